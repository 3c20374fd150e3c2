"""What an OCPP link is whatever the version (CONTRACT 10, 11): the boot until Accepted,
heartbeats, statuses (not queued: the current one goes out after every reconnect), the journal
as the queue of transaction messages sent one CALL at a time in `seq` order, and charging
profiles followed every second. A version (`v16/link.py`, `v201/link.py`) says how each is
written and what the CSMS's CALLs mean.

The queue is the journal itself: the transaction events are written before anything is sent.
Once the CSMS has answered one, how far it has answered is journaled at once, in one small
commit with what the answer taught (`answered`), so it is never sent again. The events leave
the journal later in batches, as on MQTT; those that are no OCPP message leave it unsent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pile_controller.backend.link import Port, Request
from pile_controller.backend.ocpp import rpc
from pile_controller.backend.ocpp.session import Session
from pile_controller.backend.ocpp.smart import JOURNAL_KEY as PROFILES_KEY
from pile_controller.backend.ocpp.smart import Profiles, Running
from pile_controller.backend.ocpp.websocket import Closed
from pile_controller.config import Settings
from pile_controller.core import commands as cmd
from pile_controller.core.times import parse_iso
from pile_controller.journal.store import Envelope
from pile_controller.retry import RateLimit

if TYPE_CHECKING:
    from pile_controller.backend.ocpp.calls import Calls

log = logging.getLogger("pile_controller")
LIMITS_EVERY_S = 1.0  # charging profiles are looked at this often: the pilot follows within 1 s
BOOT_RETRY_S = 60  # a Pending or Rejected boot whose answer gives no interval
BATCH = 50


class OcppLink:
    role = "csms"
    protocol: str  # backend.protocol
    subprotocol: str  # the WebSocket's
    answered_key: str  # the journal's key of the seq up to which the CSMS answered everything

    def __init__(
        self,
        settings: Settings,
        schemas: rpc.Schemas,
        tls: ssl.SSLContext | None = None,
        password: str | None = None,
    ):
        ocpp = settings.ocpp
        assert ocpp is not None
        self.settings, self.ocpp = settings, ocpp
        self.charge_point_id = ocpp.charge_point_id or settings.pile.id
        self.url = ocpp.url.rstrip("/") + "/" + self.charge_point_id
        basic = (self.charge_point_id, password) if password is not None else None
        self.session = Session(self.url, self.subprotocol, schemas, tls, basic)
        self.accepted = False  # the CSMS accepted our BootNotification on this connection
        self._work = asyncio.Event()
        self._statuses: list[int] = []
        self._told: dict[int, tuple[str, ...]] = {}  # connector -> the status the CSMS has
        self._limits: dict[int, float | None] = {}
        self._boot_refusals = RateLimit(every_s=60.0)  # a CSMS answering Pending or Rejected
        self._status_refusals = RateLimit(every_s=60.0)
        self.incoming: Calls
        self.forced_meter: set[int] = set()  # connectors whose next sample goes out regardless
        self.last_sample: dict[str, datetime] = {}  # transaction -> its last sample sent

    # --- what a version says -----------------------------------------------------------------

    def boot(self) -> dict[str, Any]:
        raise NotImplementedError

    def heartbeat_interval(self, told: int | None = None) -> int:
        """The heartbeat's interval (`told`: what the boot's answer said, kept)."""
        raise NotImplementedError

    def status_body(self, cid: int) -> tuple[dict[str, Any], tuple[str, ...]] | None:
        """Connector `cid`'s StatusNotification and what of it the CSMS must hear again only
        when it changes; None: nothing to say."""
        raise NotImplementedError

    def status_targets(self, connector: int) -> tuple[int, ...]:
        """Whose statuses a change of `connector` may change."""
        return (connector,)

    def attempts(self) -> tuple[int, int]:
        """(attempts, seconds between them) for a transaction message the CSMS refuses."""
        raise NotImplementedError

    def accepted_now(self) -> None:
        """The CSMS accepted the boot on a new connection; nothing is sent yet."""

    async def samples(self, envelopes: list[Envelope], events: list[dict[str, Any]]) -> None:
        """A transaction's periodic samples, in a row in the queue: one message, one answer,
        one commit (a connector's samples are committed in a row: journal/samples.py)."""
        raise NotImplementedError

    async def event(self, envelope: Envelope, event: dict[str, Any]) -> None:
        """Any other journaled event: its message if it is OCPP's; acknowledged either way."""
        raise NotImplementedError

    def csms_transaction(self, transaction_id: str | None) -> int | str | None:
        raise NotImplementedError

    def sample_interval(self) -> int:
        """Seconds between a transaction's periodic samples sent (0: none)."""
        raise NotImplementedError

    # --- the Link interface ------------------------------------------------------------------

    @property
    def peer(self) -> str:
        return self.url

    @property
    def connected(self) -> bool:
        return self.session.connected and self.accepted

    @property
    def problem(self) -> str | None:
        return self.session.problem

    def attach(self, port: Port) -> None:
        self.port = port
        self.profiles = Profiles(port.recall(PROFILES_KEY))

    async def run(self) -> None:
        limits = asyncio.create_task(self._follow_profiles())
        try:
            await self.session.keep_up(self.handle, self._session, self._lost)
        finally:
            limits.cancel()

    def handle(self, call: rpc.Call) -> Any:
        return self.incoming.handle(call)

    def quiet(self, command: cmd.Command) -> Request:
        return self.incoming.quiet(command)

    def send_next_sample(self, connector: int) -> None:
        """The connector's next periodic sample goes out whatever the interval (a
        TriggerMessage)."""
        self.forced_meter.add(connector)

    def due(self, event: dict[str, Any], last: datetime | None) -> bool:
        """Whether a periodic sample goes out: those the CSMS triggered always, the others
        every `sample_interval()` after the `last` sent."""
        if event["connector"] in self.forced_meter:
            self.forced_meter.discard(event["connector"])
            return True
        interval = self.sample_interval()
        if interval == 0:
            return False
        return last is None or (parse_iso(event["ts"]) - last).total_seconds() >= interval - 0.5

    def running(self, cid: int) -> Running | None:
        """Connector `cid`'s running transaction as a charging profile sees it (0: none)."""
        connector = self.port.connectors().get(cid)
        tx = connector.transaction if connector else None
        if tx is None or tx.finished:
            return None
        return Running(tx.started_at, self.csms_transaction(tx.transaction_id))

    def deliver(self) -> None:
        self._work.set()

    def status(self, connector: int, again: bool = False) -> None:
        """`again`: sent even if the CSMS was told the same already (a TriggerMessage)."""
        if again:
            self._told.pop(connector, None)
        for cid in self.status_targets(connector):
            if cid not in self._statuses:
                self._statuses.append(cid)
        self._work.set()

    def announce(self) -> None:
        """OCPP has no birth message to repeat: the statuses say the pile is there."""
        for cid in self.port.connectors():
            self.status(cid)

    def close(self) -> None:
        self.session.close()

    # --- a connection ------------------------------------------------------------------------

    async def _session(self) -> None:
        interval = await self._boot()
        self.accepted = True
        self.accepted_now()
        self.port.up()
        every = {t for cid in self.port.connectors() for t in self.status_targets(cid)}
        self._statuses = sorted(every)
        self._told.clear()
        # Either failing ends both, and the connection (a CALL unanswered: the CSMS is gone).
        async with asyncio.TaskGroup() as both:
            both.create_task(self._send())
            both.create_task(self._heartbeat(interval))

    def _lost(self) -> None:
        if self.accepted:
            self.accepted = False
            self.port.down()

    async def _boot(self) -> int:
        """BootNotification until Accepted; the heartbeat interval."""
        while True:
            now = self.port.now()
            answer = await self.session.call("BootNotification", self.boot())
            offset = (parse_iso(answer["currentTime"]) - now).total_seconds()
            if abs(offset) >= 2:
                log.warning(
                    "CSMS clock is %+.1f s from the pile's (the pile keeps its own)", offset
                )
            interval = int(answer["interval"])
            if answer["status"] == "Accepted":
                self._boot_refusals.clear()
                log.info("CSMS %s accepted the pile", self.url)
                return self.heartbeat_interval(interval if interval > 0 else None)
            if (count := self._boot_refusals.seen()) is not None:
                log.warning(
                    "CSMS %s answered the boot %s (%d times); asking again every %d s",
                    self.url,
                    answer["status"],
                    count,
                    interval or BOOT_RETRY_S,
                )
            await asyncio.sleep(interval or BOOT_RETRY_S)

    async def _heartbeat(self, interval: int) -> None:
        while True:
            await asyncio.sleep(max(1, self.heartbeat_interval() or interval))
            with contextlib.suppress(rpc.RpcError):  # a CALLERROR is an answer: it is alive
                await self.heartbeat()

    async def heartbeat(self) -> None:
        await self.session.call("Heartbeat", {})

    async def quietly(self, call: Awaitable[object]) -> None:
        """A CALL the CSMS triggered, sent beside the queue: if the connection ends under it,
        the reconnect says the same again (the statuses), so nothing more is to be done."""
        with contextlib.suppress(rpc.RpcError, Closed, TimeoutError, OSError):
            await call

    async def _send(self) -> None:
        """The queue first (in seq order), then the statuses; one CALL at a time."""
        after = self._answered_through()
        while True:
            self._work.clear()
            batch = self.port.undelivered(after, BATCH)
            events = [json.loads(e.payload) for e in batch]
            i = 0
            while i < len(batch):
                n = periodic_in_a_row(events, i)
                if n:
                    await self.samples(batch[i : i + n], events[i : i + n])
                else:
                    await self.event(batch[i], events[i])
                i += n or 1
                after = batch[i - 1].seq
            if batch:
                continue
            while self._statuses:
                await self._send_status(self._statuses.pop(0))
            if not self._work.is_set():
                await self._work.wait()

    async def _send_status(self, cid: int) -> None:
        said = self.status_body(cid)
        if said is None:
            return
        body, told = said
        if self._told.get(cid) == told:
            return  # a change the CSMS cannot see (the screen's, the meter's)
        try:
            await self.session.call("StatusNotification", body)
        except rpc.RpcError as exc:  # it answered: the link is fine, this status is not
            if self._status_refusals.seen() is not None:
                log.warning("CSMS refused the status of connector %d: %s", cid, exc)
            return
        self._told[cid] = told

    def answered(self, envelope: Envelope, facts: dict[str, str] | None = None) -> None:
        """The CSMS answered the message of `envelope` (and taught `facts`): journaled at once,
        so a crash after this never sends it again; the event leaves with a later batch."""
        self.port.remember({self.answered_key: str(envelope.seq), **(facts or {})})
        self.port.acknowledged(envelope.seq)

    def _answered_through(self) -> int:
        """The seq up to which the CSMS answered everything; what lies at or below it and is
        still journaled (a batch not yet forgotten before a restart) is acknowledged now."""
        through = int(self.port.recall(self.answered_key) or 0)
        after = 0
        while batch := [e for e in self.port.undelivered(after, 500) if e.seq <= through]:
            for envelope in batch:
                self.port.acknowledged(envelope.seq)
            after = batch[-1].seq
        return through

    async def transaction_call(self, action: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """A transaction message, tried again while the CSMS answers with a CALLERROR (a lost
        connection is not an attempt: it is sent again after the reconnect). None if it was
        given up."""
        attempts, retry_s = self.attempts()
        attempts = max(1, attempts)
        for attempt in range(1, attempts + 1):
            try:
                return await self.session.call(action, body)
            except rpc.RpcError as exc:
                log.warning(
                    "CSMS refused %s (attempt %d of %d): %s", action, attempt, attempts, exc
                )
                if attempt < attempts:
                    await asyncio.sleep(retry_s * attempt)
        log.error("%s given up after %d attempts: %s", action, attempts, json.dumps(body)[:300])
        return None

    # --- charging profiles -------------------------------------------------------------------

    async def _follow_profiles(self) -> None:
        while True:
            self.apply_profiles()
            await asyncio.sleep(LIMITS_EVERY_S)

    def apply_profiles(self) -> None:
        """Every connector's (and the site's) limit as the profiles give it now; a change is
        the core's `SetLimit`, as MQTT's `limit`."""
        now = self.port.now()
        for cid in (0, *self.port.connectors()):
            amps = self.profiles.limit(cid, now, self.running(cid))
            if cid not in self._limits or self._limits[cid] != amps:
                self._limits[cid] = amps
                self.port.execute(self.quiet(cmd.SetLimit(cid, amps)))


def periodic_in_a_row(events: list[dict[str, Any]], i: int) -> int:
    """How many periodic samples of one transaction follow in a row from `events[i]` (0: it is
    none): they go as one message, one answer, one commit."""

    def periodic_of(event: dict[str, Any]) -> str | None:
        data = event["data"]
        periodic = event["type"] == "meter.values" and data["context"] == "Sample.Periodic"
        return data["transaction_id"] if periodic else None

    tid = periodic_of(events[i])
    if tid is None:
        return 0
    n = 1
    while i + n < len(events) and periodic_of(events[i + n]) == tid:
        n += 1
    return n
