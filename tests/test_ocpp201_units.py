"""The OCPP 2.0.1 link's own parts: every message it writes valid against the official schemas,
stop reasons in 2.0.1's words, the device model (a bad value changes nothing, a report fits
NotifyReport), and what a CSMS says of cost reaching the core: the running cost on the
screen, the Ended's total as the bill, never more than the driver's cap."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from pile_controller.backend.link import Request
from pile_controller.backend.ocpp import rpc
from pile_controller.backend.ocpp.v201 import messages
from pile_controller.backend.ocpp.v201.device_model import DeviceModel
from pile_controller.backend.ocpp.v201.link import Ocpp201Link
from pile_controller.backend.wire import event_data
from pile_controller.core import commands as cmd
from pile_controller.core.connector import Connector
from pile_controller.core.published import Published
from pile_controller.core.times import iso
from pile_controller.core.transaction import Cap
from rig.bench import Bench, bench_settings

SCHEMAS = rpc.Schemas("v201", "Request")
CENTRAL = {"idToken": "app", "type": "Central"}
OCPP = {"backend": {"protocol": "ocpp2.0.1"}, "ocpp": {"url": "ws://127.0.0.1:9/ocpp"}}


def event(p: Published) -> dict[str, Any]:
    """A published event as the journal holds it."""
    return {"type": p.type, "connector": p.connector, "ts": iso(p.at), "data": event_data(p)}


def test_a_transaction_s_messages_are_valid_2_0_1() -> None:
    b = Bench(pile={"id": "A-PILE-ID-LONG-ENOUGH-TO-PASS-36-CHARACTERS"})
    b.start_reserved_session()
    b.advance(30)
    b.do("stop_button")
    started, *_ = (event(p) for p in b.published if p.type == "transaction.started")
    samples = [event(p) for p in b.published if p.type == "meter.values"]
    stopped = next(event(p) for p in b.published if p.type == "transaction.stopped")
    bodies = [
        messages.started(started, 0, None),
        messages.started(
            started, 0, {"remoteStartId": 3, "idToken": {"idToken": "a", "type": "Central"}}
        ),
        messages.updated(samples[1:3], 1, ",".join(messages.MEASURANDS), "MeterValuePeriodic"),
        messages.ended(stopped, 2),
    ]
    for body in bodies:
        SCHEMAS.check("TransactionEvent", body)
        assert len(body["transactionInfo"]["transactionId"]) <= 36
    # Typed at the pile: the reservation's token (on OCPP, the code itself) as a KeyCode.
    assert bodies[0]["idToken"] == {"idToken": started["data"]["id_token"], "type": "KeyCode"}
    SCHEMAS.check("StatusNotification", messages.status(b.c(1), iso(b.now)))
    SCHEMAS.check("BootNotification", messages.boot(b_settings().ocpp, "P1"))  # type: ignore[arg-type]


def b_settings() -> Any:
    return bench_settings((1, 2), **OCPP)


@pytest.mark.parametrize(
    ("reason", "said", "trigger"),
    [
        ("Local", "Local", "StopAuthorized"),
        ("Remote", "Remote", "RemoteStop"),
        ("EVDisconnected", "EVDisconnected", "EVCommunicationLost"),
        ("CostLimitReached", "LocalOutOfCredit", "Deauthorized"),
        ("EnergyLimitReached", "EnergyLimitReached", "EnergyLimitReached"),
        ("SoftReset", "ImmediateReset", "ResetCommand"),
        ("HardReset", "ImmediateReset", "ResetCommand"),
        ("UnlockCommand", "Other", "AbnormalCondition"),
        ("SomethingNew", "Other", "AbnormalCondition"),
    ],
)
def test_stop_reasons_in_2_0_1_words(reason: str, said: str, trigger: str) -> None:
    data = {
        "transaction_id": "P1-0123456789abcdef",
        "reason": reason,
        "stopped_at": "2026-12-05T08:00:00.000Z",
        "meter_stop_wh": 5,
    }
    body = messages.ended({"connector": 1, "data": data}, 4)
    SCHEMAS.check("TransactionEvent", body)
    assert (body["transactionInfo"]["stoppedReason"], body["triggerReason"]) == (said, trigger)


def sampled(name: str) -> dict[str, Any]:
    return {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": name}}


def test_the_device_model_refuses_a_bad_value_and_keeps_a_good_one() -> None:
    settings = b_settings()
    model = DeviceModel(settings, dict, None)
    interval = {
        "component": {"name": "SampledDataCtrlr"},
        "variable": {"name": "TxUpdatedInterval"},
    }
    for bad in ("-1", "soon", "99999999", ""):
        assert model.set({**interval, "attributeValue": bad})["attributeStatus"] == "Rejected"
    assert model.get(interval)["attributeValue"] == "10"
    measurands = {
        "component": {"name": "SampledDataCtrlr"},
        "variable": {"name": "TxUpdatedMeasurands"},
    }
    assert (
        model.set({**measurands, "attributeValue": "Voltage,SoC"})["attributeStatus"] == "Rejected"
    )
    assert model.set({**interval, "attributeValue": "60"})["attributeStatus"] == "Accepted"
    again = DeviceModel(settings, dict, model.saved())
    assert again.number("SampledDataCtrlr", "TxUpdatedInterval") == 60
    # Without Basic authentication (profile 0 here) there is no password to give.
    password = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}
    given = model.set({**password, "attributeValue": "a-good-long-password"})
    assert given["attributeStatus"] == "Rejected" and model.password() is None
    evse = {"component": {"name": "EVSE", "evse": {"id": 3}}, "variable": {"name": "Available"}}
    assert model.get(evse)["attributeStatus"] == "UnknownComponent"


def test_every_report_fits_notify_report() -> None:
    model = DeviceModel(b_settings(), dict, None)
    for base in ("FullInventory", "ConfigurationInventory", "SummaryInventory"):
        data = list(model.report(base))
        assert data
        body = {
            "requestId": 1,
            "generatedAt": "2026-12-05T08:00:00.000Z",
            "seqNo": 0,
            "reportData": data,
        }
        SCHEMAS.check("NotifyReport", body)


class BenchPort:
    """The daemon's Port over a bench core: commands run through it at once."""

    def __init__(self, bench: Bench):
        self.bench = bench
        self.facts: dict[str, str] = {}

    def now(self) -> datetime:
        return self.bench.now

    def connectors(self) -> dict[int, Connector]:
        return self.bench.pile.connectors

    def execute(self, request: Request) -> None:
        assert request.command is not None
        request.answer(self.bench.command(request.command)).send()

    def remember(self, facts: dict[str, str]) -> None:
        self.facts.update(facts)

    def recall(self, key: str) -> str | None:
        return self.facts.get(key)


def linked(bench: Bench) -> Ocpp201Link:
    link = Ocpp201Link(b_settings())
    link.attach(BenchPort(bench))  # type: ignore[arg-type]
    return link


def charging(bench: Bench, cap: Cap | None = None) -> str:
    bench.do("plug")
    assert bench.command(cmd.RemoteStart(1, "app", cap=cap)) == cmd.ACCEPTED
    tx = bench.c(1).transaction
    assert tx is not None
    return tx.transaction_id


def test_cost_from_the_csms_is_shown_while_charging_and_billed_once_ended() -> None:
    b = Bench(**OCPP)
    link = linked(b)
    tid = charging(b)
    wire = messages.wire_id(tid)
    link.handle(rpc.Call("c1", "CostUpdated", {"totalCost": 1.25, "transactionId": wire}))
    tx = b.c(1).transaction
    assert tx is not None and tx.shown_cost == Decimal("1.25") and tx.amount is None
    link.incoming.cost(tid, Decimal("1.75"))  # an Updated's answer
    assert tx.shown_cost == Decimal("1.75")
    b.advance(600)
    b.do("stop_button")
    link.incoming.cost(tid, Decimal("9.5"))  # the Ended's answer: the bill
    assert tx.amount == Decimal("9.50")
    assert b.events("payment.requested")[-1]["amount"] == "9.50"


def test_the_csms_s_total_never_passes_the_driver_s_cap() -> None:
    b = Bench(**OCPP)
    link = linked(b)
    tid = charging(b, Cap(max_cost=Decimal("5")))
    b.advance(60)
    b.do("stop_button")
    link.incoming.cost(tid, Decimal("12.00"))
    tx = b.c(1).transaction
    assert tx is not None and tx.amount == Decimal("5.00")


@pytest.mark.parametrize(
    ("limit", "status"),
    [
        ({"maxCost": 0}, "Rejected"),
        ({"maxEnergy": -1}, "Rejected"),
        ({"maxCost": "lots"}, "Rejected"),
        ({"maxCost": 2.5, "maxEnergy": 3000}, "Accepted"),
    ],
)
def test_a_cap_comes_in_our_custom_data(limit: dict[str, Any], status: str) -> None:
    b = Bench(**OCPP)
    link = linked(b)
    b.do("plug")
    payload = {
        "idToken": CENTRAL,
        "remoteStartId": 1,
        "customData": {"vendorId": "pile-controller", "transactionLimit": limit},
    }
    sent: list[dict[str, Any]] = []
    link.session.send_result = lambda mid, body: sent.append(body)  # type: ignore[method-assign]
    answer = link.handle(rpc.Call("c1", "RequestStartTransaction", payload))
    said = sent[0] if sent else answer
    assert said["status"] == status
    tx = b.c(1).transaction
    if status == "Accepted":
        assert tx is not None and tx.cap == Cap(Decimal("2.5"), 3000)
    else:
        assert tx is None


def test_another_vendor_s_custom_data_is_no_cap() -> None:
    b = Bench(**OCPP)
    link = linked(b)
    b.do("plug")
    payload = {
        "idToken": CENTRAL,
        "remoteStartId": 1,
        "customData": {"vendorId": "someone.else", "transactionLimit": {"maxCost": 0}},
    }
    link.session.send_result = lambda mid, body: None  # type: ignore[method-assign]
    link.handle(rpc.Call("c1", "RequestStartTransaction", payload))
    tx = b.c(1).transaction
    assert tx is not None and tx.cap is None


def test_wire_ids_keep_their_random_tail() -> None:
    tid = "A-VERY-LONG-PILE-IDENTIFIER-0001-0123456789abcdef"
    assert messages.wire_id(tid) == tid[-36:] and messages.wire_id(tid).endswith("0123456789abcdef")
    assert messages.wire_id("P1-0123") == "P1-0123"


def test_the_charging_state_says_who_holds_the_charge() -> None:
    b = Bench(**OCPP)
    link = linked(b)
    tid = charging(b)
    b.advance(2)
    assert link._state(tid, late=False) == "Charging"
    b.command(cmd.SetLimit(1, 3.0))  # under IEC 61851's 6 A: the pile withholds power
    b.advance(2)
    assert link._state(tid, late=False) == "SuspendedEVSE"
    assert link._state(tid, late=True) is None  # told late: the samples' power says
    b.command(cmd.SetLimit(1, None))
    b.sim.ev_power(1, 0)  # the vehicle takes nothing
    b.advance(2)
    assert link._state(tid, late=False) == "SuspendedEV"
