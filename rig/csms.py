"""A central system we did not write: the mobilityhouse `ocpp` library's v1.6 ChargePoint on a
`websockets` server, on loopback, in a thread of its own so tests drive it synchronously. It
validates every message the pile sends against the official schemas (the library's default),
records every frame in both directions, answers the pile's CALLs as a plain CSMS would, and
lets a test call the pile, refuse it, or go away and come back."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import ssl
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Self

import websockets
from ocpp.exceptions import InternalError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.typing import Subprotocol

from rig.broker import free_port


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"


class Recording:
    """The websocket as the library sees it, every frame written down."""

    def __init__(self, ws: Any, log: Callable[[str, str], None]):
        self.ws, self.log = ws, log

    async def recv(self) -> str:
        text = await self.ws.recv()
        self.log("<", text)
        return str(text)

    async def send(self, text: str) -> None:
        self.log(">", text)
        await self.ws.send(text)


class Station(ChargePoint):
    """The CSMS's side of one connected pile."""

    csms: Csms

    @on(Action.boot_notification)
    def boot(self, **_: Any) -> Any:
        return call_result.BootNotification(now_iso(), self.csms.heartbeat_s, self.csms.boot_status)

    @on(Action.heartbeat)
    def heartbeat(self) -> Any:
        return call_result.Heartbeat(now_iso())

    @on(Action.status_notification)
    def status(self, **_: Any) -> Any:
        if self.csms.refuse_statuses:
            raise InternalError(description="this CSMS refuses statuses today")
        return call_result.StatusNotification()

    @on(Action.start_transaction)
    def start_transaction(self, **_: Any) -> Any:
        tid = next(self.csms.transaction_ids)
        return call_result.StartTransaction(tid, {"status": self.csms.id_tag_status})

    @on(Action.meter_values)
    def meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def stop_transaction(self, **_: Any) -> Any:
        return call_result.StopTransaction()

    @on(Action.authorize)
    def authorize(self, **_: Any) -> Any:
        return call_result.Authorize({"status": "Accepted"})

    @on(Action.data_transfer)
    def data_transfer(self, **_: Any) -> Any:
        return call_result.DataTransfer("Accepted")

    @on(Action.diagnostics_status_notification)
    def diagnostics_status(self, **_: Any) -> Any:
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def firmware_status(self, **_: Any) -> Any:
        return call_result.FirmwareStatusNotification()

    @on(Action.signed_firmware_status_notification)
    def signed_firmware_status(self, **_: Any) -> Any:
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.log_status_notification)
    def log_status(self, **_: Any) -> Any:
        return call_result.LogStatusNotification()


class Csms:
    subprotocol = "ocpp1.6"
    station_class: type[Any] = Station

    def __init__(
        self,
        port: int | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
    ):
        """`password`: HTTP Basic required (security profiles 1, 2); `tls`: wss://."""
        self.port = port or free_port()
        self.url = f"{'wss' if tls else 'ws'}://127.0.0.1:{self.port}/ocpp"
        self.password, self.tls = password, tls
        self.refused = 0  # connections refused for their credentials
        self.frames: list[tuple[str, list[Any]]] = []  # ("<" from the pile | ">" to it, frame)
        self.paths: list[str] = []  # the path each pile connected on
        self.boot_status = "Accepted"
        self.heartbeat_s = 300
        self.id_tag_status = "Accepted"
        self.refuse_statuses = False  # answer every StatusNotification with a CALLERROR
        self.transaction_ids = itertools.count(1001)
        self.station: Any = None
        self.listeners: list[Callable[[str, list[Any]], None]] = []  # (direction, frame)
        self.loop = asyncio.new_event_loop()
        self._server: Any = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._lock = threading.Lock()

    def start(self) -> Self:
        self._thread.start()
        self._run(self._serve())
        return self

    async def _serve(self) -> None:
        self._server = await websockets.serve(
            self._connected,
            "127.0.0.1",
            self.port,
            subprotocols=[Subprotocol(self.subprotocol)],
            process_request=self._check if self.password else None,
            ssl=self.tls,
        )

    def _check(self, connection: Any, request: Any) -> Any:
        """HTTP Basic: the charge point id and the password (security profiles 1, 2)."""
        identity = request.path.rsplit("/", 1)[-1]
        want = base64.b64encode(f"{identity}:{self.password}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {want}":
            self.refused += 1
            return connection.respond(HTTPStatus.UNAUTHORIZED, "who are you?\n")
        return None

    async def _connected(self, ws: Any) -> None:
        self.paths.append(ws.request.path)
        station = self.station_class(
            ws.request.path.rsplit("/", 1)[-1], Recording(ws, self._log), response_timeout=15
        )
        station.csms = self
        self.station = station
        with contextlib.suppress(websockets.ConnectionClosed):
            await station.start()

    def _log(self, direction: str, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            return  # a test's own garbage, sent to the pile
        if isinstance(frame, list) and len(frame) >= 3:
            with self._lock:
                self.frames.append((direction, frame))
            for listener in self.listeners:
                listener(direction, frame)

    def _run(self, coro: Any, timeout: float = 15.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # --- what a test does --------------------------------------------------------------------

    def calls(self, action: str | None = None) -> list[dict[str, Any]]:
        """The pile's CALLs so far (of `action`), their payloads in order."""
        with self._lock:
            frames = list(self.frames)
        return [
            f[3] for d, f in frames if d == "<" and f[0] == 2 and (action is None or f[2] == action)
        ]

    def wait(
        self, action: str, timeout: float = 10.0, after: int = 0, **fields: Any
    ) -> dict[str, Any]:
        """The first CALL `action` (past the first `after` of them) whose payload has `fields`."""
        deadline = time.monotonic() + timeout
        while True:
            for payload in self.calls(action)[after:]:
                if all(payload.get(k) == v for k, v in fields.items()):
                    return payload
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {action} with {fields}; got {self.calls(action)[-5:]}")
            time.sleep(0.02)

    def wait_connected(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.station is None or not self.calls("BootNotification"):
            if time.monotonic() > deadline:
                raise TimeoutError("the pile never connected")
            time.sleep(0.02)

    def call(self, payload: Any, timeout: float = 15.0) -> Any:
        """A CALL to the pile (an `ocpp.v16.call` dataclass); its result (raises on a
        CALLERROR)."""
        assert self.station is not None, "no pile connected"
        return self._run(self.station.call(payload, suppress=False), timeout)

    def send_raw(self, text: str) -> None:
        """A frame as it is, however broken."""
        assert self.station is not None
        self._run(self.station._connection.send(text))

    def answers_to(self, mid: str) -> list[list[Any]]:
        with self._lock:
            return [f for d, f in self.frames if d == "<" and f[0] in (3, 4) and f[1] == mid]

    def wait_for_answer(self, mid: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.answers_to(mid):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the pile never answered {mid}")
            time.sleep(0.02)

    def go_away(self) -> None:
        """The CSMS goes down: no listener, every connection closed."""

        async def down() -> None:
            self._server.close()
            await self._server.wait_closed()

        self._run(down())
        self.station = None

    def come_back(self) -> None:
        self._run(self._serve())

    def stop(self) -> None:
        try:
            self.go_away()
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
