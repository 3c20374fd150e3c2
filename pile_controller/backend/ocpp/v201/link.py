"""OCPP 2.0.1 as a backend link (CONTRACT 11): `TransactionEvent` Started / Updated / Ended from
the journaled events `transaction.started`, a transaction's periodic `meter.values` and
`transaction.stopped` (the queue is the journal: `backend/ocpp/link.py`), each with a `seqNo`
counted per transaction from 0 and journaled with the answer, so it is gapless across restarts;
and the CSMS's CALLs (`incoming.py`) turned into the same core commands as MQTT's and 1.6's.
The pile's own transaction id is the one the CSMS sees: no id to wait for."""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
from decimal import Decimal
from typing import Any

from pile_controller.backend.link import Port
from pile_controller.backend.ocpp import rpc
from pile_controller.backend.ocpp.link import OcppLink
from pile_controller.backend.ocpp.smart import JOURNAL_KEY as PROFILES_KEY
from pile_controller.backend.ocpp.v201 import messages
from pile_controller.backend.ocpp.v201.device_model import JOURNAL_KEY as VARIABLES_KEY
from pile_controller.backend.ocpp.v201.device_model import DeviceModel
from pile_controller.backend.ocpp.v201.display import JOURNAL_KEY as DISPLAY_KEY
from pile_controller.backend.ocpp.v201.display import DisplayMessages
from pile_controller.backend.ocpp.v201.incoming import Incoming
from pile_controller.config import Settings
from pile_controller.core import commands as cmd
from pile_controller.core.connector import Connector
from pile_controller.core.events import UPDATE_UNDER_WAY
from pile_controller.core.times import iso, parse_iso
from pile_controller.journal.store import Envelope

log = logging.getLogger("pile_controller")
ANSWERED_KEY = "ocpp201.answered_through"
SEQ_KEY = "ocpp201.seq_nos"  # the pile's transaction id -> the seqNo of its next message
REMOTE_KEY = "ocpp201.remote_starts"  # connector -> the RequestStartTransaction it took
RESERVATION_UPDATE = {"Expired": "Expired", "Faulted": "Removed", "Unavailable": "Removed"}


class Ocpp201Link(OcppLink):
    protocol = "ocpp2.0.1"
    subprotocol = "ocpp2.0.1"
    answered_key = ANSWERED_KEY
    incoming: Incoming

    def __init__(
        self, settings: Settings, tls: ssl.SSLContext | None = None, password: str | None = None
    ):
        super().__init__(settings, rpc.Schemas("v201", "Request"), tls, password)
        self.backlog_through = 0  # the last event journaled before this connection's boot
        # An update's or an upload's notification while it runs, for TriggerMessage (else Idle).
        self.under_way: dict[str, dict[str, Any]] = {}

    def attach(self, port: Port) -> None:
        super().attach(port)
        self.variables = DeviceModel(self.settings, port.connectors, port.recall(VARIABLES_KEY))
        if (password := self.variables.password()) and self.session.basic is not None:
            self.session.basic, self.session.fallback = (
                (self.charge_point_id, password),
                self.session.basic[1],  # the file's, should the CSMS have lost ours
            )
        self.display = DisplayMessages(port.recall(DISPLAY_KEY))
        self.seq_nos: dict[str, int] = json.loads(port.recall(SEQ_KEY) or "{}")
        self.remote_starts: dict[str, dict[str, Any]] = json.loads(port.recall(REMOTE_KEY) or "{}")
        self.incoming = Incoming(self)

    def accepted_now(self) -> None:
        """Remembers the newest event waiting to be sent: it and those before it are late."""
        last = after = int(self.port.recall(ANSWERED_KEY) or 0)
        while batch := self.port.undelivered(after, 500):
            last = after = batch[-1].seq
        self.backlog_through = last

    def happened_offline(self, envelope: Envelope) -> bool:
        """Whether the event was journaled before this connection was accepted and not sent
        (2.0.1's `offline`: the CSMS hears of it late)."""
        return envelope.seq <= self.backlog_through

    def csms_transaction(self, transaction_id: str | None) -> str | None:
        return messages.wire_id(transaction_id) if transaction_id else None

    def holding(self, wire_id: str) -> Connector | None:
        """The connector whose running or last transaction the CSMS names `wire_id`."""
        for c in self.port.connectors().values():
            tx = c.transaction
            if tx is not None and messages.wire_id(tx.transaction_id) == wire_id:
                return c
        return None

    def boot(self) -> dict[str, Any]:
        return messages.boot(self.ocpp, self.charge_point_id)

    def heartbeat_interval(self, told: int | None = None) -> int:
        if told is not None:  # the boot's answer says it for this connection
            self.variables.told("OCPPCommCtrlr", "HeartbeatInterval", str(told))
        return self.variables.number("OCPPCommCtrlr", "HeartbeatInterval")

    def attempts(self) -> tuple[int, int]:
        return (
            self.variables.number("OCPPCommCtrlr", "MessageAttempts", "TransactionEvent"),
            self.variables.number("OCPPCommCtrlr", "MessageAttemptInterval", "TransactionEvent"),
        )

    def status_body(self, cid: int) -> tuple[dict[str, Any], tuple[str, ...]]:
        body = messages.status(self.port.connectors()[cid], iso(self.port.now()))
        return body, (body["connectorStatus"],)

    def remote_started(self, connector: int, request: dict[str, Any]) -> None:
        """Connector `connector` took a RequestStartTransaction: its Started says so."""
        self.remote_starts[str(connector)] = {
            "remoteStartId": request["remoteStartId"],
            "idToken": request["idToken"],
        }
        self.port.remember({REMOTE_KEY: json.dumps(self.remote_starts, sort_keys=True)})

    # --- the queue ---------------------------------------------------------------------------

    async def event(self, envelope: Envelope, event: dict[str, Any]) -> None:
        kind, data = event["type"], event["data"]
        if kind == "transaction.started":
            await self._started(envelope, event)
        elif kind == "transaction.stopped":
            await self._ended(envelope, event)
        elif kind == "reservation.ended" and data["reason"] in RESERVATION_UPDATE:
            rid = data["reservation_id"]
            if rid.isdigit():
                body = {
                    "reservationId": int(rid),
                    "reservationUpdateStatus": RESERVATION_UPDATE[data["reason"]],
                }
                with contextlib.suppress(rpc.RpcError):  # told, if not liked: not retried
                    await self.session.call("ReservationStatusUpdate", body)
            self.answered(envelope)
        elif kind in ("fault.raised", "fault.cleared"):
            with contextlib.suppress(rpc.RpcError):  # told, if not liked: not retried
                await self.session.call("NotifyEvent", messages.fault_event(event, envelope.seq))
            self.answered(envelope)
        elif kind in messages.PROGRESS:
            await self._progress(envelope, kind, data["status"])
        elif kind == "payment.requested":
            # The CSMS may have said the payment's URI before the stop.
            uri = self.display.payment_uri(messages.wire_id(data["transaction_id"]))
            if uri is not None and uri != data["qr_payload"]:
                self.incoming.show_payment_uri(data["transaction_id"], uri)
            self.port.acknowledged(envelope.seq)
        elif kind == "payment.settled":
            if self.display.forget_transaction(messages.wire_id(data["transaction_id"])):
                self.port.remember({DISPLAY_KEY: self.display.saved()})
            self.port.acknowledged(envelope.seq)
        else:
            self.port.acknowledged(envelope.seq)  # not OCPP's: it leaves the queue unsent

    async def _progress(self, envelope: Envelope, kind: str, status: str) -> None:
        key = messages.PROGRESS[kind][1]
        action, body = messages.progress(kind, status, self.port.recall(key))
        with contextlib.suppress(rpc.RpcError):  # a progress report: not worth a retry
            await self.session.call(action, body)
        if status in UPDATE_UNDER_WAY or status == "Uploading":
            self.under_way[action] = body
            self.answered(envelope)
        else:
            self.under_way.pop(action, None)
            self.answered(envelope, {key: ""})  # the request is done: what comes next is another's

    async def _started(self, envelope: Envelope, event: dict[str, Any]) -> None:
        data, cid = event["data"], event["connector"]
        tid = data["transaction_id"]
        remote = self.remote_starts.get(str(cid))
        if remote is not None and remote["idToken"]["idToken"] != data["id_token"]:
            remote = None  # taken by a code typed at the pile since
        seq_no = self.seq_nos.get(tid, 0)
        body = messages.started(event, seq_no, remote)
        body = messages.late(body, self.happened_offline(envelope))
        answer = await self.transaction_call("TransactionEvent", body)
        facts = self._counted(tid, seq_no)
        if remote is not None:
            del self.remote_starts[str(cid)]
            facts[REMOTE_KEY] = json.dumps(self.remote_starts, sort_keys=True)
        self.answered(envelope, facts)
        self._learn(tid, answer, finished=False)

    async def samples(self, envelopes: list[Envelope], events: list[dict[str, Any]]) -> None:
        tid = events[0]["data"]["transaction_id"]
        last, wanted, trigger = self.last_sample.get(tid), [], "MeterValuePeriodic"
        for event in events:
            if event["connector"] in self.forced_meter:
                trigger = "Trigger"
            if self.due(event, last):
                wanted.append(event)
                last = parse_iso(event["ts"])
        if wanted:
            seq_no = self.seq_nos.get(tid, 0)
            measurands = self.variables.value("SampledDataCtrlr", "TxUpdatedMeasurands")
            late = self.happened_offline(envelopes[-1])
            body = messages.updated(wanted, seq_no, measurands, trigger, self._state(tid, late))
            body = messages.late(body, late)
            answer = await self.transaction_call("TransactionEvent", body)
            self.last_sample[tid] = parse_iso(wanted[-1]["ts"])
            self.answered(envelopes[-1], self._counted(tid, seq_no))
            self._learn(tid, answer, finished=False)
        for envelope in envelopes:  # those not sent leave the queue unsent
            self.port.acknowledged(envelope.seq)

    def _state(self, tid: str, late: bool) -> str | None:
        """Transaction `tid`'s chargingState now, if it still charges and this is told as it
        happens (None: the samples' own power says)."""
        for c in self.port.connectors().values():
            tx = c.transaction
            if not late and tx is not None and tx.transaction_id == tid and not tx.finished:
                return messages.CHARGING_STATE[c.suspended()]
        return None

    async def _ended(self, envelope: Envelope, event: dict[str, Any]) -> None:
        tid = event["data"]["transaction_id"]
        seq_no = self.seq_nos.get(tid, 0)
        body = messages.late(messages.ended(event, seq_no), self.happened_offline(envelope))
        answer = await self.transaction_call("TransactionEvent", body)
        self.seq_nos.pop(tid, None)  # its last message: the count is done
        self.last_sample.pop(tid, None)
        facts = {SEQ_KEY: json.dumps(self.seq_nos, sort_keys=True)}
        if self.profiles.end_transaction(event["connector"]):
            facts[PROFILES_KEY] = self.profiles.saved()
        self.answered(envelope, facts)
        self._learn(tid, answer, finished=True)

    def _counted(self, tid: str, seq_no: int) -> dict[str, str]:
        """The next seqNo of `tid`, to journal with the answer of message `seq_no`."""
        self.seq_nos[tid] = seq_no + 1
        return {SEQ_KEY: json.dumps(self.seq_nos, sort_keys=True)}

    def sample_interval(self) -> int:
        return self.variables.number("SampledDataCtrlr", "TxUpdatedInterval")

    def _learn(self, tid: str, answer: dict[str, Any] | None, finished: bool) -> None:
        """What a TransactionEvent's answer says: a refused idToken stops the session
        (`DeAuthorized`), `totalCost` is the running cost on the screen or, for the Ended,
        the bill (as California Pricing's FinalCost)."""
        if answer is None:
            return
        token = answer.get("idTokenInfo")
        if not finished and token is not None and token["status"] != "Accepted":
            log.warning("CSMS refused the idToken of %s (%s): stopping it", tid, token["status"])
            self.port.execute(self.quiet(cmd.RemoteStop(tid, "DeAuthorized")))
        if "totalCost" in answer:
            self.incoming.cost(tid, Decimal(str(answer["totalCost"])))
