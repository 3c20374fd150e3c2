"""What the CSMS's CALLs have in common whatever the OCPP version: a handler per action (an
action the pile does not take is `NotSupported`), backend commands run through the core and
answered once the journal has their effects, and the small readings of a payload both versions
make (a money amount, a DataTransfer's data, a time)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Coroutine
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from pile_controller.backend.link import Answer, Port, Request
from pile_controller.backend.ocpp import rpc
from pile_controller.backend.ocpp.session import Deferred, Handler
from pile_controller.backend.ocpp.smart import JOURNAL_KEY as PROFILES_KEY
from pile_controller.backend.ocpp.smart import schedule_payload
from pile_controller.core import commands as cmd
from pile_controller.core.connector import Connector
from pile_controller.core.times import parse_iso
from pile_controller.fleet import diagnostics_file

if TYPE_CHECKING:
    from pile_controller.backend.ocpp.link import OcppLink

log = logging.getLogger("pile_controller")
ACCEPTED, REJECTED = {"status": "Accepted"}, {"status": "Rejected"}
APPOINTMENT_CODE = re.compile(r"[0-9]{4,12}")


class Calls:
    def __init__(self, link: OcppLink, port: Port):
        self.link, self.port = link, port
        self.handlers: dict[str, Handler] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs `work` beside the CALL's answer, held until it ends (the loop keeps only a
        weak reference to a task)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def later(self, action: str, body: dict[str, Any]) -> None:
        """A CALL the CSMS asked for, sent once the answer is out (beside the queue)."""
        self.spawn(self.link.quietly(self.link.session.call(action, body)))

    def handle(self, call: rpc.Call) -> dict[str, Any] | Deferred:
        handler = self.handlers.get(call.action)
        if handler is None:
            raise rpc.RpcError("NotSupported", f"{call.action} is not supported by this pile")
        return handler(call)

    def _execute(
        self,
        call: rpc.Call,
        command: cmd.Command,
        status: Callable[[cmd.Reply], str],
        result: Callable[[cmd.Reply], dict[str, Any]] | None = None,
    ) -> Deferred:
        """Runs `command` through the core; `{"status": status(reply)}` (or `result(reply)`)
        is the CALLRESULT, sent once the journal has the command's effects."""

        def answer(reply: cmd.Reply) -> Answer:
            body = result(reply) if result else {"status": status(reply)}
            return Answer(json.dumps(body), lambda: self.link.session.send_result(call.id, body))

        self.port.execute(Request(command, None, answer))
        return Deferred()

    def _unlock(self, call: rpc.Call, cid: int) -> Deferred:
        """The operator's release of connector `cid`'s cable (recorded `ReleasedByBackend`)."""
        return self._execute(
            call,
            cmd.Unlock(cid, how="ReleasedByBackend"),
            lambda r: "Unlocked" if r.status is cmd.ReplyStatus.ACCEPTED else "UnlockFailed",
        )

    def _paid(self, call: rpc.Call, tid: str | None, raw_amount: Any) -> dict[str, Any] | Deferred:
        """Our PaymentSettled DataTransfer for the pile's transaction `tid`: Rejected unless
        the transaction is known and the amount is money; the core checks it is the bill."""
        amount = money(raw_amount)
        if tid is None or amount is None:
            return REJECTED
        return self._execute(call, cmd.Payment(tid, "paid", amount), accepted)

    def quiet(self, command: cmd.Command) -> Request:
        """A command of the link's own (a profile's limit, a refused start): nobody to answer."""
        return Request(command, None, lambda reply: Answer("", lambda: None))

    def _set_profile(self, cid: int, profile: dict[str, Any]) -> dict[str, Any]:
        """SetChargingProfile's answer for `profile` (1.6's shape, as the profiles keep them):
        the site's own on connector 0 only, a default anywhere, a transaction's only where one
        runs."""
        purpose = profile["chargingProfilePurpose"]
        if cid != 0 and cid not in self.port.connectors():
            return REJECTED
        if (purpose == "ChargePointMaxProfile") != (cid == 0) and purpose != "TxDefaultProfile":
            return REJECTED
        if purpose == "TxProfile" and self.link.running(cid) is None:
            return REJECTED  # a transaction's profile, and none runs there
        return ACCEPTED if self._install(cid, profile) else REJECTED

    def _install(self, cid: int, profile: dict[str, Any]) -> bool:
        if not self.link.profiles.install(cid, profile):
            return False
        self._profiles_changed()
        return True

    def _clear_profiles(
        self, pid: int | None, cid: int | None, purpose: str | None, stack_level: int | None
    ) -> dict[str, Any]:
        """ClearChargingProfile's answer: Accepted if any went (then journaled), or Unknown."""
        removed = self.link.profiles.clear(pid, cid, purpose, stack_level)
        if removed:
            self._profiles_changed()
        return {"status": "Accepted" if removed else "Unknown"}

    def _profiles_changed(self) -> None:
        """Journaled, and the limits they give now applied."""
        self.port.remember({PROFILES_KEY: self.link.profiles.saved()})
        self.link.apply_profiles()

    def _get_log(self, call: rpc.Call, key: str) -> Deferred:
        """GetLog (1.6's security whitepaper and 2.0.1 alike): the diagnostics archive (either
        log type: the pile keeps one log) to `log.remoteLocation`, answered with its file name;
        its requestId is kept under `key` for the LogStatusNotifications."""
        p = call.payload
        name = diagnostics_file(self.link.settings.pile.id, self.port.now())
        order = cmd.Diagnostics(p["log"]["remoteLocation"], name)
        taken = {"status": "Accepted", "filename": name}
        answer = self.requested(call, key, str(p["requestId"]), taken, REJECTED)
        return self._execute(call, order, accepted, answer)

    def _signed_update(self, call: rpc.Call, key: str) -> Deferred:
        """1.6's SignedUpdateFirmware and 2.0.1's UpdateFirmware: `firmware.signature` is the
        operator's Ed25519 signature (base64; without one, read from location + ".sig"),
        checked against update.public_key; the signing certificate is not used (the pile
        trusts a key, not a PKI: CONTRACT 12). The requestId is kept under `key` for the
        status notifications."""
        p, firmware = call.payload, call.payload["firmware"]
        order = cmd.Update(
            firmware["location"],
            signature=firmware.get("signature"),
            retrieve_at=parse_time(firmware["retrieveDateTime"]),
        )
        answer = self.requested(call, key, str(p["requestId"]), ACCEPTED, REJECTED)
        return self._execute(call, order, accepted, answer)

    def _composite(self, cid: int, duration: int) -> dict[str, Any] | None:
        """The composite schedule of `cid` (0: the site) for `duration` seconds from now, in
        amps; None if the connector is unknown or nothing limits it."""
        if cid != 0 and cid not in self.port.connectors():
            return None
        now = self.port.now()
        periods = self.link.profiles.composite(cid, now, duration, self.link.running(cid))
        return schedule_payload(periods, now, duration) if periods else None

    def requested(
        self,
        call: rpc.Call,
        key: str,
        request: str,
        taken: dict[str, Any],
        refused: dict[str, Any],
    ) -> Callable[[cmd.Reply], dict[str, Any]]:
        """The answer to a CALL whose progress goes out later: `request` (its requestId, or ""
        for the plain 1.6 notifications) is remembered once the core accepts it."""

        def answer(reply: cmd.Reply) -> dict[str, Any]:
            if reply.status is not cmd.ReplyStatus.ACCEPTED:
                log.warning("%s refused: %s", call.action, reply.reason)
                return refused
            self.port.remember({key: request})
            return taken

        return answer


def started_by(c: Connector, tag: str) -> bool:
    """Whether `tag` started `c`: authorized, waiting for the vehicle, or already charging."""
    if c.authorization is not None:
        return c.authorization.id_token == tag
    tx = c.transaction
    return tx is not None and not tx.finished and tx.id_token == tag


def parse_time(text: str) -> datetime:
    try:
        return parse_iso(text)
    except ValueError:
        raise rpc.RpcError("FormationViolation", f"{text!r} is not a date-time") from None


def accepted(reply: cmd.Reply) -> str:
    return "Accepted" if reply.status is cmd.ReplyStatus.ACCEPTED else "Rejected"


def reservation_status(reply: cmd.Reply) -> str:
    """ReserveNow's answers are the core's own: Accepted, Occupied, Faulted, Unavailable,
    Rejected."""
    return "Rejected" if reply.status is cmd.ReplyStatus.SCHEDULED else str(reply.status)


def availability_status(reply: cmd.Reply) -> str:
    if reply.status is cmd.ReplyStatus.SCHEDULED:
        return "Scheduled"
    return accepted(reply)


def data_of(raw: Any) -> dict[str, Any]:
    """A DataTransfer's `data`: a JSON string by the whitepapers (an object is taken too)."""
    if isinstance(raw, dict):
        return raw
    try:
        data = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def money(raw: Any) -> Decimal | None:
    try:
        amount = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and amount >= 0 else None
