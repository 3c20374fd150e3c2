"""OCPP 1.6J as a backend link (CONTRACT 10): the boot, heartbeats and statuses of connector 0
and every connector, `StartTransaction`, a transaction's `MeterValues` and `StopTransaction`
from the journaled events `transaction.started`, `meter.values` and `transaction.stopped` (the
queue is the journal: `backend/ocpp/link.py`), and the CSMS's CALLs (`incoming.py`) turned into
the same core commands as MQTT's. The CSMS's `transactionId` of a start is journaled with its
answer; a stop waits for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
from typing import Any

from pile_controller.backend.link import Port
from pile_controller.backend.ocpp import rpc
from pile_controller.backend.ocpp.link import OcppLink
from pile_controller.backend.ocpp.smart import JOURNAL_KEY as PROFILES_KEY
from pile_controller.backend.ocpp.v16 import messages
from pile_controller.backend.ocpp.v16.configuration import JOURNAL_KEY as CONFIG_KEY
from pile_controller.backend.ocpp.v16.configuration import Configuration
from pile_controller.backend.ocpp.v16.incoming import Incoming
from pile_controller.config import Settings
from pile_controller.core import commands as cmd
from pile_controller.core.events import UPDATE_UNDER_WAY
from pile_controller.core.times import iso, parse_iso
from pile_controller.journal.store import Envelope

log = logging.getLogger("pile_controller")
TRANSACTIONS_KEY = "ocpp16.transactions"  # the pile's transaction id -> the CSMS's
ANSWERED_KEY = "ocpp16.answered_through"  # the seq up to which the CSMS answered every message
TRANSACTIONS_KEPT = 64
PLAIN_NOTIFICATION = {
    "firmware.status": "FirmwareStatusNotification",
    "diagnostics.status": "DiagnosticsStatusNotification",
}


class Ocpp16Link(OcppLink):
    protocol = "ocpp1.6"
    subprotocol = "ocpp1.6"
    answered_key = ANSWERED_KEY

    def __init__(
        self, settings: Settings, tls: ssl.SSLContext | None = None, password: str | None = None
    ):
        super().__init__(settings, rpc.Schemas("v16"), tls, password)
        # An update's or an upload's status while it runs, for TriggerMessage (else Idle).
        self.under_way: dict[str, str] = {}

    def attach(self, port: Port) -> None:
        super().attach(port)
        self.configuration = Configuration(self.settings, port.recall(CONFIG_KEY))
        saved = port.recall(TRANSACTIONS_KEY)
        self.transaction_ids: dict[str, int] = json.loads(saved) if saved else {}
        self.incoming = Incoming(self)

    def csms_transaction(self, transaction_id: str | None) -> int | None:
        return self.transaction_ids.get(transaction_id) if transaction_id else None

    def pile_transaction(self, csms_id: int) -> str | None:
        return next((t for t, c in self.transaction_ids.items() if c == csms_id), None)

    def boot(self) -> dict[str, Any]:
        return messages.boot(self.ocpp, self.charge_point_id)

    def heartbeat_interval(self, told: int | None = None) -> int:
        if told is not None:
            self.configuration.changed["HeartbeatInterval"] = str(told)
        return self.configuration.number("HeartbeatInterval")

    def attempts(self) -> tuple[int, int]:
        return (
            self.configuration.number("TransactionMessageAttempts"),
            self.configuration.number("TransactionMessageRetryInterval"),
        )

    def status_targets(self, connector: int) -> tuple[int, ...]:
        # Connector 0 (the pile) follows its connectors: Unavailable once all of them are.
        return (connector, 0)

    def status_body(self, cid: int) -> tuple[dict[str, Any], tuple[str, ...]]:
        connectors, now = self.port.connectors(), iso(self.port.now())
        if cid == 0:
            body = messages.pile_status(connectors.values(), now)
        else:
            body = messages.status(connectors[cid], now)
        return body, (body["status"], body["errorCode"])

    # --- the queue ---------------------------------------------------------------------------

    async def samples(self, envelopes: list[Envelope], events: list[dict[str, Any]]) -> None:
        """A transaction's periodic samples, in a row in the queue: one MeterValues with those
        `MeterValueSampleInterval` wants, one answer, one commit (a connector's samples are
        committed in a row: journal/samples.py)."""
        tid = events[0]["data"]["transaction_id"]
        last, wanted = self.last_sample.get(tid), []
        for event in events:
            if self.due(event, last):
                wanted.append(event)
                last = parse_iso(event["ts"])
        csms_id = self.csms_transaction(tid)
        if wanted and csms_id is not None:
            sampled = self.configuration["MeterValuesSampledData"]
            await self.transaction_call(
                "MeterValues", messages.meter_values(wanted, csms_id, sampled)
            )
            self.last_sample[tid] = parse_iso(wanted[-1]["ts"])
            self.answered(envelopes[-1])
        for envelope in envelopes:  # those not sent leave the queue unsent
            self.port.acknowledged(envelope.seq)

    async def event(self, envelope: Envelope, event: dict[str, Any]) -> None:
        data, kind = event["data"], event["type"]
        tid = data.get("transaction_id")
        # A start is never counted answered without its transactionId kept.
        facts: dict[str, str] = {}
        refused = None
        if kind == "transaction.started":
            answer = await self.transaction_call(
                "StartTransaction", messages.start_transaction(event)
            )
            if answer is not None:
                facts[TRANSACTIONS_KEY] = self._started(tid, answer)
                refused = answer["idTagInfo"]["status"] != "Accepted"
        elif kind == "transaction.stopped":
            csms_id = self.csms_transaction(tid)
            if csms_id is not None:
                await self.transaction_call(
                    "StopTransaction", messages.stop_transaction(event, csms_id)
                )
            else:
                log.error("transaction %s was never started at the CSMS: its stop is not sent", tid)
            self.last_sample.pop(tid, None)
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
        self.answered(envelope, facts)
        if refused:
            log.warning("CSMS refused the start of %s: stopping it", tid)
            self.port.execute(self.quiet(cmd.RemoteStop(tid, "DeAuthorized")))

    def sample_interval(self) -> int:
        return self.configuration.number("MeterValueSampleInterval")

    def _started(self, tid: str, answer: dict[str, Any]) -> str:
        """Keeps the CSMS's id of transaction `tid`; the ids to journal."""
        self.transaction_ids[tid] = int(answer["transactionId"])
        while len(self.transaction_ids) > TRANSACTIONS_KEPT:
            self.transaction_ids.pop(next(iter(self.transaction_ids)))
        return json.dumps(self.transaction_ids)
