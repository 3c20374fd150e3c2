"""OCPP 1.6J as a backend link (CONTRACT 10): the boot, heartbeats and statuses, the journaled
transaction messages sent one CALL at a time in `seq` order, and the CSMS's CALLs
(`incoming.py`) turned into the same core commands as MQTT's.

The queue is the journal itself: `StartTransaction`, a transaction's `MeterValues` and
`StopTransaction` are the journaled events `transaction.started`, `meter.values` and
`transaction.stopped`, written before anything is sent. Once the CSMS has answered one, how far
it has answered is journaled at once (with the CSMS's `transactionId`, for a start), so it is
never sent again. The other events are the MQTT contract's and are not OCPP's: they leave the
queue unsent. Statuses and heartbeats are not queued: the current status goes out after every
(re)connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from pile_controller.backend.link import Port
from pile_controller.backend.ocpp import rpc
from pile_controller.backend.ocpp.session import Session
from pile_controller.backend.ocpp.smart import JOURNAL_KEY as PROFILES_KEY
from pile_controller.backend.ocpp.smart import Profiles, Running
from pile_controller.backend.ocpp.v16 import messages
from pile_controller.backend.ocpp.v16.configuration import JOURNAL_KEY as CONFIG_KEY
from pile_controller.backend.ocpp.v16.configuration import Configuration
from pile_controller.backend.ocpp.v16.incoming import Incoming
from pile_controller.backend.ocpp.websocket import Closed
from pile_controller.config import Settings
from pile_controller.core import commands as cmd
from pile_controller.core.events import UPDATE_UNDER_WAY
from pile_controller.core.times import iso, parse_iso
from pile_controller.journal.store import Envelope
from pile_controller.retry import RateLimit

log = logging.getLogger("pile_controller")
TRANSACTIONS_KEY = "ocpp16.transactions"  # the pile's transaction id -> the CSMS's
ANSWERED_KEY = "ocpp16.answered_through"  # the seq up to which the CSMS answered every message
TRANSACTIONS_KEPT = 64
PLAIN_NOTIFICATION = {
    "firmware.status": "FirmwareStatusNotification",
    "diagnostics.status": "DiagnosticsStatusNotification",
}
LIMITS_EVERY_S = 1.0  # charging profiles are looked at this often: the pilot follows within 1 s
BOOT_RETRY_S = 60  # a Pending or Rejected boot whose answer gives no interval


class Ocpp16Link:
    role = "csms"
    protocol = "ocpp1.6"

    def __init__(
        self, settings: Settings, tls: ssl.SSLContext | None = None, password: str | None = None
    ):
        ocpp = settings.ocpp
        assert ocpp is not None
        self.settings, self.ocpp = settings, ocpp
        self.charge_point_id = ocpp.charge_point_id or settings.pile.id
        self.url = ocpp.url.rstrip("/") + "/" + self.charge_point_id
        basic = (self.charge_point_id, password) if password is not None else None
        self.session = Session(self.url, "ocpp1.6", rpc.Schemas("v16"), tls, basic)
        self.accepted = False  # the CSMS accepted our BootNotification on this connection
        self._work = asyncio.Event()
        self._statuses: list[int] = []
        self._told: dict[int, tuple[str, str]] = {}  # connector -> (status, errorCode) sent
        # An update's or an upload's status while it runs, for TriggerMessage (else Idle).
        self.under_way: dict[str, str] = {}
        self._forced_meter: set[int] = set()  # connectors whose next sample goes out regardless
        self._last_sample: dict[str, datetime] = {}  # transaction -> its last sample sent
        self._limits: dict[int, float | None] = {}
        self._boot_refusals = RateLimit(every_s=60.0)  # a CSMS answering Pending or Rejected
        self._status_refusals = RateLimit(every_s=60.0)

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
        self.configuration = Configuration(self.settings, port.recall(CONFIG_KEY))
        self.profiles = Profiles(port.recall(PROFILES_KEY))
        saved = port.recall(TRANSACTIONS_KEY)
        self.transaction_ids: dict[str, int] = json.loads(saved) if saved else {}
        self.incoming = Incoming(self)

    async def run(self) -> None:
        limits = asyncio.create_task(self._follow_profiles())
        try:
            await self.session.keep_up(self.incoming.handle, self._session, self._lost)
        finally:
            limits.cancel()

    def deliver(self) -> None:
        self._work.set()

    def status(self, connector: int, again: bool = False) -> None:
        """`again`: sent even if the CSMS was told the same already (a TriggerMessage)."""
        if again:
            self._told.pop(connector, None)
        # Connector 0 (the pile) follows its connectors: Unavailable once all of them are.
        for cid in (connector, 0):
            if cid not in self._statuses:
                self._statuses.append(cid)
        self._work.set()

    def announce(self) -> None:
        """OCPP has no birth message to repeat: the statuses say the pile is there."""
        for cid in self.port.connectors():
            self.status(cid)

    def close(self) -> None:
        self.session.close()

    def csms_transaction(self, transaction_id: str | None) -> int | None:
        return self.transaction_ids.get(transaction_id) if transaction_id else None

    def pile_transaction(self, csms_id: int) -> str | None:
        return next((t for t, c in self.transaction_ids.items() if c == csms_id), None)

    def boot(self) -> dict[str, Any]:
        return messages.boot(self.ocpp, self.charge_point_id)

    def send_next_sample(self, connector: int) -> None:
        """The connector's next periodic sample goes out whatever the interval (a
        TriggerMessage)."""
        self._forced_meter.add(connector)

    # --- a connection ----------------------------------------------------------------------

    async def _session(self) -> None:
        interval = await self._boot()
        self.accepted = True
        self.port.up()
        self._statuses = [0, *self.port.connectors()]
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
                if interval > 0:
                    self.configuration.changed["HeartbeatInterval"] = str(interval)
                return self.configuration.number("HeartbeatInterval")
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
            await asyncio.sleep(max(1, self.configuration.number("HeartbeatInterval") or interval))
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
            batch = self.port.undelivered(after, 50)
            events = [json.loads(envelope.payload) for envelope in batch]
            i = 0
            while i < len(batch):
                n = samples_in_a_row(events, i)
                if n:
                    await self._samples(batch[i : i + n], events[i : i + n])
                else:
                    await self._transaction_message(batch[i], events[i])
                i += n or 1
                after = batch[i - 1].seq
            if batch:
                continue
            while self._statuses:
                cid = self._statuses.pop(0)
                await self._send_status(cid)
            if not self._work.is_set():
                await self._work.wait()

    async def _send_status(self, cid: int) -> None:
        connectors, now = self.port.connectors(), iso(self.port.now())
        if cid == 0:
            body = messages.pile_status(connectors.values(), now)
        else:
            body = messages.status(connectors[cid], now)
        told = (body["status"], body["errorCode"])
        if self._told.get(cid) == told:
            return  # a change the CSMS cannot see (the screen's, the meter's)
        try:
            await self.session.call("StatusNotification", body)
        except rpc.RpcError as exc:  # it answered: the link is fine, this status is not
            if self._status_refusals.seen() is not None:
                log.warning("CSMS refused the status of connector %d: %s", cid, exc)
            return
        self._told[cid] = told

    async def _samples(self, envelopes: list[Envelope], events: list[dict[str, Any]]) -> None:
        """A transaction's periodic samples, in a row in the queue: one MeterValues with those
        `MeterValueSampleInterval` wants, one answer, one commit (a connector's samples are
        committed in a row: journal/samples.py)."""
        tid = events[0]["data"]["transaction_id"]
        last, wanted = self._last_sample.get(tid), []
        for event in events:
            if self._wanted(event, last):
                wanted.append(event)
                last = parse_iso(event["ts"])
        csms_id = self.csms_transaction(tid)
        if wanted and csms_id is not None:
            sampled = self.configuration["MeterValuesSampledData"]
            await self._transaction_call(
                "MeterValues", messages.meter_values(wanted, csms_id, sampled)
            )
            self._last_sample[tid] = parse_iso(wanted[-1]["ts"])
            self.port.remember({ANSWERED_KEY: str(envelopes[-1].seq)})
        for envelope in envelopes:  # those not sent leave the queue unsent
            self.port.acknowledged(envelope.seq)

    async def _transaction_message(self, envelope: Envelope, event: dict[str, Any]) -> None:
        data, kind = event["data"], event["type"]
        tid = data.get("transaction_id")
        # How far the CSMS has answered, journaled at once in one small commit with what its
        # answer taught us: a crash after it never sends the message again, and a start is
        # never answered without its transactionId kept. The event leaves with a later batch.
        facts = {ANSWERED_KEY: str(envelope.seq)}
        refused = None
        if kind == "transaction.started":
            answer = await self._transaction_call(
                "StartTransaction", messages.start_transaction(event)
            )
            if answer is not None:
                facts[TRANSACTIONS_KEY] = self._started(tid, answer)
                refused = answer["idTagInfo"]["status"] != "Accepted"
        elif kind == "transaction.stopped":
            csms_id = self.csms_transaction(tid)
            if csms_id is not None:
                await self._transaction_call(
                    "StopTransaction", messages.stop_transaction(event, csms_id)
                )
            else:
                log.error("transaction %s was never started at the CSMS: its stop is not sent", tid)
            self._last_sample.pop(tid, None)
            if self.profiles.end_transaction(event["connector"]):
                facts[PROFILES_KEY] = self.profiles.saved()
        elif kind in ("diagnostics.status", "firmware.status"):
            if kind == "firmware.status":
                key, over = messages.FIRMWARE_REQUEST_KEY, data["status"] not in UPDATE_UNDER_WAY
                action, body = messages.firmware_status(data["status"], self.port.recall(key))
            else:
                key, over = messages.LOG_REQUEST_KEY, data["status"] != "Uploading"
                action, body = messages.upload_status(data["status"], self.port.recall(key))
            with contextlib.suppress(rpc.RpcError):  # a progress report: not worth a retry
                await self.session.call(action, body)
            plain = PLAIN_NOTIFICATION[kind]
            if over:
                facts[key] = ""  # the request is done: what comes next is another's
                self.under_way.pop(plain, None)
            else:
                self.under_way[plain] = data["status"]
        else:
            self.port.acknowledged(envelope.seq)  # not OCPP's: it leaves the queue unsent
            return
        self.port.remember(facts)
        self.port.acknowledged(envelope.seq)
        if refused:
            log.warning("CSMS refused the start of %s: stopping it", tid)
            self.port.execute(self.incoming.quiet(cmd.RemoteStop(tid, "DeAuthorized")))

    def _answered_through(self) -> int:
        """The seq up to which the CSMS answered everything; what lies at or below it and is
        still journaled (a batch not yet forgotten before a restart) is acknowledged now."""
        through = int(self.port.recall(ANSWERED_KEY) or 0)
        after = 0
        while batch := [e for e in self.port.undelivered(after, 500) if e.seq <= through]:
            for envelope in batch:
                self.port.acknowledged(envelope.seq)
            after = batch[-1].seq
        return through

    def _wanted(self, event: dict[str, Any], last: datetime | None) -> bool:
        """A periodic sample goes out every `MeterValueSampleInterval` after the `last` sent
        (0: none); those the CSMS triggered always."""
        if event["connector"] in self._forced_meter:
            self._forced_meter.discard(event["connector"])
            return True
        interval = self.configuration.number("MeterValueSampleInterval")
        if interval == 0:
            return False
        return last is None or (parse_iso(event["ts"]) - last).total_seconds() >= interval - 0.5

    async def _transaction_call(self, action: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """A transaction message, tried `TransactionMessageAttempts` times while the CSMS
        answers with a CALLERROR (a lost connection is not an attempt: it is sent again after
        the reconnect). None if it was given up."""
        attempts = max(1, self.configuration.number("TransactionMessageAttempts"))
        for attempt in range(1, attempts + 1):
            try:
                return await self.session.call(action, body)
            except rpc.RpcError as exc:
                log.warning(
                    "CSMS refused %s (attempt %d of %d): %s", action, attempt, attempts, exc
                )
                if attempt < attempts:
                    retry_s = self.configuration.number("TransactionMessageRetryInterval")
                    await asyncio.sleep(retry_s * attempt)
        log.error("%s given up after %d attempts: %s", action, attempts, json.dumps(body)[:300])
        return None

    def _started(self, tid: str, answer: dict[str, Any]) -> str:
        """Keeps the CSMS's id of transaction `tid`; the ids to journal."""
        self.transaction_ids[tid] = int(answer["transactionId"])
        while len(self.transaction_ids) > TRANSACTIONS_KEPT:
            self.transaction_ids.pop(next(iter(self.transaction_ids)))
        return json.dumps(self.transaction_ids)

    # --- charging profiles -----------------------------------------------------------------

    async def _follow_profiles(self) -> None:
        while True:
            self.apply_profiles()
            await asyncio.sleep(LIMITS_EVERY_S)

    def running(self, cid: int) -> Running | None:
        """Connector `cid`'s running transaction as a charging profile sees it (0: none)."""
        connector = self.port.connectors().get(cid)
        tx = connector.transaction if connector else None
        if tx is None or tx.finished:
            return None
        return Running(tx.started_at, self.csms_transaction(tx.transaction_id))

    def apply_profiles(self) -> None:
        """Every connector's (and the site's) limit as the profiles give it now; a change is
        the core's `SetLimit`, as MQTT's `limit`."""
        now = self.port.now()
        for cid in (0, *self.port.connectors()):
            amps = self.profiles.limit(cid, now, self.running(cid))
            if cid not in self._limits or self._limits[cid] != amps:
                self._limits[cid] = amps
                self.port.execute(self.incoming.quiet(cmd.SetLimit(cid, amps)))


def samples_in_a_row(events: list[dict[str, Any]], i: int) -> int:
    """How many periodic samples of one transaction follow in a row from `events[i]` (0: it is
    none; the begin and end samples travel in Start and StopTransaction)."""

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
