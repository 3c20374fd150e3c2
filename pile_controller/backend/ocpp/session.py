"""One OCPP-J connection to a CSMS, whatever the version: the WebSocket opened with the security
profile's credentials, reopened on a growing backoff with jitter (1 s to 60 s), and the RPC on
it: at most one CALL from the pile outstanding, matched to its answer by id and given up after
`CALL_TIMEOUT_S`; CALLs from the CSMS checked against the schemas and handed to the link, their
breaches answered with the CALLERROR OCPP names. Nothing the CSMS sends stops it: a frame it
cannot read is one log line (rate-limited) and the connection goes on."""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import secrets
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

from hal.backoff import Backoff
from pile_controller.backend.ocpp import rpc
from pile_controller.backend.ocpp.websocket import Closed, Refused, WebSocket
from pile_controller.retry import Bugs, RateLimit

log = logging.getLogger("pile_controller")
CALL_TIMEOUT_S = 30.0  # a CALL unanswered this long: the connection is taken for dead
CONNECT_TIMEOUT_S = 10.0
STABLE_S = 30.0  # up this long: the backoff starts again from its base

# What the link does with a CSMS's CALL: its CALLRESULT payload, or RpcError. The reply may be
# sent later by the link itself (`Deferred`): after the journal has the command's effects.
Handler = Callable[[rpc.Call], "dict[str, Any] | Deferred"]


class Deferred:
    """The link answers this CALL itself, through `send_result`."""


class Session:
    def __init__(
        self,
        url: str,
        subprotocol: str,
        schemas: rpc.Schemas,
        tls: ssl.SSLContext | None,
        basic: tuple[str, str] | None,
    ):
        self.url, self.subprotocol, self.schemas = url, subprotocol, schemas
        self.tls, self.basic = tls, basic
        # A password the CSMS set (OCPP 2.0.1's SecurityCtrlr.BasicAuthPassword) is tried with
        # the one it replaced beside it: a 401 swaps them (A01: a new password that fails is
        # given up for the old one).
        self.fallback: str | None = None
        self.socket: WebSocket | None = None
        self.problem: str | None = "not connected yet"
        # Unique across restarts too: an answer meant for a CALL of the process before is
        # never taken for one of this process's.
        self._id_prefix = secrets.token_hex(4)
        self._ids = itertools.count(1)
        self._waiting: tuple[str, str, asyncio.Future[dict[str, Any]]] | None = None
        self._one_call = asyncio.Lock()
        self._backoff = Backoff(base=1.0, cap=60.0)
        self._failures = RateLimit(every_s=60.0)
        self._oddities = RateLimit(every_s=60.0)
        self._drops = RateLimit(every_s=60.0)  # connections lost before they were STABLE_S up
        self._bugs = Bugs(log)
        self.closing = False

    @property
    def connected(self) -> bool:
        return self.socket is not None

    async def keep_up(
        self,
        handler: Handler,
        session: Callable[[], Coroutine[None, None, None]],
        lost: Callable[[], None],
    ) -> None:
        """Connects, runs `session` (the link's boot and sending) beside the reading of frames
        until the connection ends, calls `lost`, and connects again, until `close()`."""
        loop = asyncio.get_running_loop()
        while not self.closing:
            try:
                self.socket = await asyncio.wait_for(self._open(), CONNECT_TIMEOUT_S)
            except (OSError, Refused, TimeoutError, Closed, ssl.SSLError) as exc:
                self._failed(exc)
                await asyncio.sleep(self._backoff.next())
                continue
            up_at = loop.time()
            self.problem = None
            self._failures.clear()
            log.info("connected to CSMS %s", self.url)
            reading = asyncio.create_task(self._read(handler))
            working = asyncio.create_task(session())
            try:
                done, _ = await asyncio.wait(
                    {reading, working}, return_when=asyncio.FIRST_COMPLETED
                )
            finally:  # also when the daemon stops: neither outlives the connection
                for task in (reading, working):
                    task.cancel()
                await asyncio.gather(reading, working, return_exceptions=True)
            why = next((t.exception() for t in done if not t.cancelled() and t.exception()), None)
            while isinstance(why, BaseExceptionGroup):  # the link's own tasks, in a group
                why = why.exceptions[0]
            self.socket.abort()
            self.socket = None
            self._fail_waiting()
            lost()
            if self.closing:
                return
            said = str(why or "closed")
            if isinstance(why, TimeoutError):
                said = f"no answer to a CALL within {CALL_TIMEOUT_S:g} s"
            self.problem = f"connection to CSMS {self.url} lost: {said}"
            if loop.time() - up_at >= STABLE_S:
                self._backoff.reset()
                self._drops.clear()
            if (count := self._drops.seen()) is not None:  # one that drops us at once: no flood
                more = f" ({count} times in a row)" if count > 1 else ""
                log.warning("%s%s; reconnecting", self.problem, more)
            await asyncio.sleep(self._backoff.next())

    async def _open(self) -> WebSocket:
        headers = []
        if self.basic is not None:
            user, password = self.basic
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers.append((b"authorization", f"Basic {token}".encode()))
        return await WebSocket.connect(self.url, self.subprotocol, headers, self.tls)

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, ssl.SSLCertVerificationError):
            why = f"its certificate does not verify: {exc.verify_message}"
        elif isinstance(exc, Refused):
            why = f"it refused the pile: {exc}"
            if "401" in str(exc) and self.basic is not None and self.fallback is not None:
                (user, tried), other = self.basic, self.fallback
                self.basic, self.fallback = (user, other), tried
                log.warning("CSMS %s refused the pile's password; trying the other one", self.url)
            elif "401" in str(exc):
                why += " (the password, ocpp.password_file, is not one it knows)"
        elif isinstance(exc, TimeoutError):
            why = f"no answer within {CONNECT_TIMEOUT_S:g} s"
        else:
            why = str(exc) or type(exc).__name__
        self.problem = f"CSMS {self.url}: {why}"
        if (count := self._failures.seen()) is not None:
            more = f" ({count} more attempts failed)" if count > 1 else ""
            log.error("cannot connect to %s; retrying on a backoff%s", self.problem, more)

    def renew(self, password: str) -> None:
        """Connects again with `password` (the one it replaces kept as the fallback)."""
        assert self.basic is not None
        user, self.fallback = self.basic
        self.basic = (user, password)
        if self.socket is not None:
            self.socket.close()

    def close(self) -> None:
        self.closing = True
        if self.socket is not None:
            self.socket.close()

    # --- the RPC -------------------------------------------------------------------------------

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Sends one CALL and waits for its CALLRESULT (RpcError for a CALLERROR or an answer
        that breaks the schema; TimeoutError, which ends the connection, for none)."""
        async with self._one_call:
            socket = self.socket
            if socket is None:
                raise Closed("not connected")
            mid = f"{self._id_prefix}-{next(self._ids)}"
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._waiting = (mid, action, future)
            socket.send(rpc.call(mid, action, payload))
            try:
                return await asyncio.wait_for(future, CALL_TIMEOUT_S)
            finally:
                self._waiting = None

    def send_result(self, mid: str, payload: dict[str, Any]) -> None:
        if self.socket is not None:
            self.socket.send(rpc.result(mid, payload))

    def _fail_waiting(self) -> None:
        if self._waiting is not None and not self._waiting[2].done():
            self._waiting[2].set_exception(Closed("the connection ended"))

    async def _read(self, handler: Handler) -> None:
        assert self.socket is not None
        while True:
            text = await self.socket.receive()
            try:
                frame = rpc.decode(text)
            except rpc.FrameError as exc:
                self._odd(f"a frame it could not read ({exc})")
                self.socket.send(rpc.error(exc.mid, exc.code, exc.description))
                continue
            except rpc.RpcError as exc:
                self._odd(f"{text[:120]!r} ({exc.description})")
                continue
            if isinstance(frame, rpc.Call):
                self._answer(frame, handler)
            else:
                self._settle(frame)

    def _answer(self, call: rpc.Call, handler: Handler) -> None:
        assert self.socket is not None
        try:
            if not self.schemas.known(call.action):
                raise rpc.RpcError("NotImplemented", f"no action {call.action!r}")
            self.schemas.check(call.action, call.payload)
            body = handler(call)
        except rpc.RpcError as exc:
            log.info("CSMS %s %s answered %s: %s", call.action, call.id, exc.code, exc.description)
            self.socket.send(rpc.error(call.id, exc.code, exc.description))
            return
        except Exception:
            self._bugs.seen(f"CSMS call {call.action}", repr(call.payload)[:200])
            self.socket.send(rpc.error(call.id, "InternalError", "the pile could not do it"))
            return
        if not isinstance(body, Deferred):
            self.socket.send(rpc.result(call.id, body))

    def _settle(self, frame: rpc.CallResult | rpc.CallError) -> None:
        waiting = self._waiting
        if waiting is None or waiting[0] != frame.id or waiting[2].done():
            self._odd(f"an answer to CALL {frame.id!r}, which the pile is not waiting for")
            return
        _, action, future = waiting
        if isinstance(frame, rpc.CallError):
            future.set_exception(rpc.RpcError(frame.code, frame.description))
            return
        try:
            self.schemas.check(action, frame.payload, response=True)
        except rpc.RpcError as exc:
            future.set_exception(rpc.RpcError(exc.code, f"its {action} answer: {exc.description}"))
            return
        future.set_result(frame.payload)

    def _odd(self, what: str) -> None:
        if (count := self._oddities.seen()) is not None:
            more = f" ({count} like it since)" if count > 1 else ""
            log.warning("CSMS %s sent %s; ignored%s", self.url, what, more)
