"""CONTRACT 11's smaller promises against the mobilityhouse `ocpp` library's v201: the device
model journaled (and a bad value changing nothing), charging profiles driving the pilot,
UnlockConnector, Reset, TriggerMessage, a refused idToken, Authorize before a remote start,
a CSMS's garbage, and an outage with a kill -9 inside it losing nothing, its seqNo gapless."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ocpp.v201 import call

from rig.backend import in_minutes
from rig.csms201 import Csms201
from rig.pile import PileProcess
from tests.e2e.ocpp_rig import ocpp_options, outage_with_a_kill_inside

INTERVAL = {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}


def charging(csms: Csms201, pile: PileProcess, cid: int, token: str = "t") -> str:
    """A vehicle plugged into `cid`, started remotely, charging: its transactionId."""
    pile.sim("plug", cid)
    start = call.RequestStartTransaction(
        id_token={"id_token": token, "type": "Central"}, remote_start_id=cid, evse_id=cid
    )
    assert csms.call(start).status == "Accepted"
    # Power flows (the relay closed): a clock moved on from here is energy.
    pile.wait_until(lambda r: r["connectors"][cid - 1]["relay_closed"])
    evse = {"id": cid, "connectorId": cid}
    started = csms.wait("TransactionEvent", eventType="Started", evse=evse)
    return str(started["transactionInfo"]["transactionId"])


def test_variables_are_kept_across_a_restart_and_a_bad_value_changes_nothing(
    csms201: Csms201, ocpp201_pile: PileProcess
) -> None:
    csms = csms201
    results = csms.call(
        call.SetVariables(
            set_variable_data=[
                {**INTERVAL, "attribute_value": "60"},
                {**INTERVAL, "attribute_value": "-1"},  # refused, the 60 stays
                {
                    "component": {"name": "SecurityCtrlr"},
                    "variable": {"name": "SecurityProfile"},
                    "attribute_value": "3",
                },
                {
                    "component": {"name": "Teleport"},
                    "variable": {"name": "X"},
                    "attribute_value": "1",
                },
                {
                    "component": {"name": "TxCtrlr"},
                    "variable": {"name": "Nope"},
                    "attribute_value": "1",
                },
            ]
        )
    ).set_variable_result
    assert [r["attribute_status"] for r in results] == [
        "Accepted",
        "Rejected",
        "Rejected",
        "UnknownComponent",
        "UnknownVariable",
    ]
    ocpp201_pile.stop()
    csms.station = None
    ocpp201_pile.start()
    csms.wait_connected()
    got = csms.call(
        call.GetVariables(
            get_variable_data=[
                INTERVAL,
                {
                    "component": {"name": "EVSE", "evse": {"id": 2}},
                    "variable": {"name": "AvailabilityState"},
                },
                {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}},
                {**INTERVAL, "attribute_type": "Target"},
            ]
        )
    ).get_variable_result
    assert [(r["attribute_status"], r.get("attribute_value")) for r in got] == [
        ("Accepted", "60"),
        ("Accepted", "Available"),
        ("Rejected", None),  # write-only: a secret is never read back
        ("NotSupportedAttributeType", None),
    ]
    inventory = call.GetBaseReport(request_id=8, report_base="ConfigurationInventory")
    assert csms.call(inventory).status == "Accepted"
    report = csms.wait("NotifyReport", requestId=8)
    names = {(d["component"]["name"], d["variable"]["name"]) for d in report["reportData"]}
    assert ("SampledDataCtrlr", "TxUpdatedInterval") in names
    assert ("SecurityCtrlr", "SecurityProfile") not in names  # read-only: not configuration
    kept = [d for d in report["reportData"] if d["variable"]["name"] == "TxUpdatedInterval"]
    assert kept[0]["variableAttribute"][0]["value"] == "60"


def test_the_csms_gives_the_pile_a_new_password_and_the_old_one_is_its_fallback(
    tmp_path: Path,
) -> None:
    old, new = "first-password-0001", "second-password-0002"
    server = Csms201(password=old).start()
    (tmp_path / "pw").write_text(old + "\n")
    extra = f'security_profile = 1\npassword_file = "{tmp_path}/pw"'
    options = ocpp_options(server.url, extra, "ocpp2.0.1")
    pile = PileProcess(tmp_path / "p", 1, connectors=1, **options).start()
    password = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}
    try:
        server.wait_connected()
        short = server.call(
            call.SetVariables(set_variable_data=[{**password, "attribute_value": "short"}])
        )
        assert short.set_variable_result[0]["attribute_status"] == "Rejected"
        server.password = new  # the CSMS knows the new one from here
        given = server.call(
            call.SetVariables(set_variable_data=[{**password, "attribute_value": new}])
        )
        assert given.set_variable_result[0]["attribute_status"] == "Accepted"
        pile.wait_until(lambda r: len(server.paths) == 2 and r["backend"]["connected"])
        assert server.refused == 0  # it came back with the new password at once
        pile.stop()
        pile.start()  # the new password is journaled: the file still holds the old one
        pile.wait_until(lambda r: len(server.paths) == 3 and r["backend"]["connected"])
        assert server.refused == 0
        pile.stop()
        server.password = old  # a CSMS that lost the new one: the pile falls back
        pile.start()
        pile.wait_until(lambda r: len(server.paths) == 4 and r["backend"]["connected"], timeout=20)
        assert server.refused == 1
        assert new not in pile.logs() and old not in pile.logs()  # a secret is never logged
    finally:
        pile.stop()
        server.stop()


def test_a_charging_profile_sets_the_pilot_and_clearing_it_lifts_the_limit(
    csms201: Csms201, ocpp201_pile: PileProcess
) -> None:
    csms, pile = csms201, ocpp201_pile
    charging(csms, pile, 1)
    profile = {
        "id": 5,
        "stack_level": 2,
        "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Absolute",
        "charging_schedule": [
            {
                "id": 1,
                "charging_rate_unit": "W",
                "start_schedule": in_minutes(-1),
                "charging_schedule_period": [
                    {"start_period": 0, "limit": 6900.0, "number_phases": 3}
                ],
            }
        ],
    }
    assert csms.call(call.SetChargingProfile(evse_id=1, charging_profile=profile)).status == (
        "Accepted"
    )
    pile.wait_until(lambda r: r["connectors"][0]["current_limit_a"] == 10.0)
    # The CSMS reads back what it set, in 2.0.1's shape.
    asked = call.GetChargingProfiles(request_id=4, charging_profile={"charging_profile_id": [5]})
    assert csms.call(asked).status == "Accepted"
    report = csms.wait("ReportChargingProfiles", requestId=4)
    assert (report["evseId"], report["chargingLimitSource"]) == (1, "CSO")
    (kept,) = report["chargingProfile"]
    assert (kept["id"], kept["chargingProfilePurpose"]) == (5, "TxDefaultProfile")
    assert kept["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 6900.0
    none = call.GetChargingProfiles(request_id=5, charging_profile={"stack_level": 9})
    assert csms.call(none).status == "NoProfiles"
    schedule = csms.call(call.GetCompositeSchedule(duration=600, evse_id=1))
    assert schedule.schedule["charging_schedule_period"][0]["limit"] == 10.0
    assert csms.call(call.ClearChargingProfile(charging_profile_id=5)).status == "Accepted"
    pile.wait_until(lambda r: r["connectors"][0]["current_limit_a"] == 32.0)
    assert csms.call(call.ClearChargingProfile(charging_profile_id=5)).status == "Unknown"


def test_unlock_connector_releases_an_unpaid_cable_as_the_operator_s_decision(
    csms201: Csms201, ocpp201_pile: PileProcess
) -> None:
    csms, pile = csms201, ocpp201_pile
    charging(csms, pile, 1)
    pile.sim("clock", "+600")
    pile.sim("stop-button", 1)
    pile.wait_until(lambda r: r["connectors"][0]["state"] == "awaiting_payment")
    assert pile.status()["connectors"][0]["cable_locked"]  # held: unpaid
    assert csms.call(call.UnlockConnector(evse_id=1, connector_id=1)).status == "Unlocked"
    pile.wait_until(lambda r: not r["connectors"][0]["cable_locked"])


def test_unlock_trigger_and_an_immediate_reset(csms201: Csms201, ocpp201_pile: PileProcess) -> None:
    csms, pile = csms201, ocpp201_pile
    assert csms.call(call.UnlockConnector(evse_id=9, connector_id=9)).status == "UnknownConnector"
    tid = charging(csms, pile, 2)
    busy = csms.call(call.UnlockConnector(evse_id=2, connector_id=2))
    assert busy.status == "OngoingAuthorizedTransaction"
    meter = call.TriggerMessage(requested_message="MeterValues", evse={"id": 2})
    assert csms.call(meter).status == "Accepted"
    assert csms.wait("MeterValues", evseId=2)["meterValue"][0]["sampledValue"][0]["context"] == (
        "Trigger"
    )
    assert csms.call(call.TriggerMessage(requested_message="TransactionEvent")).status == "Accepted"
    csms.wait("TransactionEvent", eventType="Updated", triggerReason="Trigger")
    assert csms.call(call.TriggerMessage(requested_message="SignV2GCertificate")).status == (
        "NotImplemented"
    )
    assert csms.call(call.Reset(type="Immediate")).status == "Accepted"
    ended = csms.wait("TransactionEvent", eventType="Ended")
    assert ended["transactionInfo"] == {
        "transactionId": tid,
        "chargingState": "EVConnected",
        "stoppedReason": "ImmediateReset",
    }
    assert ended["triggerReason"] == "ResetCommand"
    assert pile.process is not None
    assert pile.process.wait(timeout=15) == 0  # systemd starts it again (Restart=always)


def test_a_fault_is_faulted_and_named_in_a_notify_event(
    csms201: Csms201, ocpp201_pile: PileProcess
) -> None:
    csms, pile = csms201, ocpp201_pile
    pile.sim("estop", "on")
    csms.wait("StatusNotification", evseId=1, connectorStatus="Faulted")
    told = csms.wait("NotifyEvent")["eventData"][0]
    assert (told["techCode"], told["actualValue"], told["variable"]) == (
        "EmergencyStop",
        "true",
        {"name": "Problem"},
    )
    assert told["component"]["name"] in ("Connector", "ChargingStation")


def test_a_reset_on_idle_waits_for_the_session_and_its_payment(
    csms201: Csms201, ocpp201_pile: PileProcess
) -> None:
    csms, pile = csms201, ocpp201_pile
    tid = charging(csms, pile, 1)
    assert csms.call(call.Reset(type="OnIdle")).status == "Scheduled"
    pile.sim("clock", "+600")
    pile.sim("stop-button", 1)
    ended = csms.wait("TransactionEvent", eventType="Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "Local"  # it was never cut short
    assert pile.process is not None and pile.process.poll() is None  # unpaid: still running
    cost = pile.status()["connectors"][0]["cost"]
    data = json.dumps({"transactionId": tid, "amount": cost})
    paid = call.DataTransfer(vendor_id="pile-controller", message_id="PaymentSettled", data=data)
    assert csms.call(paid).status == "Accepted"
    assert pile.process.wait(timeout=15) == 0  # idle now: it restarts


def test_a_refused_id_token_stops_the_session_and_authorize_comes_first_when_asked(
    csms201: Csms201, ocpp201_pile: PileProcess
) -> None:
    csms, pile = csms201, ocpp201_pile
    csms.id_token_status = "Blocked"
    pile.sim("plug", 1)
    stolen = {"id_token": "stolen", "type": "Central"}
    assert csms.call(call.RequestStartTransaction(id_token=stolen, remote_start_id=1)).status == (
        "Accepted"
    )
    ended = csms.wait("TransactionEvent", eventType="Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    csms.id_token_status = "Accepted"
    authorize = {
        "component": {"name": "AuthCtrlr"},
        "variable": {"name": "AuthorizeRemoteStart"},
        "attribute_value": "true",
    }
    assert (
        csms.call(call.SetVariables(set_variable_data=[authorize])).set_variable_result[0][
            "attribute_status"
        ]
        == "Accepted"
    )
    csms.authorize_status = "Invalid"
    pile.sim("plug", 2)
    token = {"id_token": "nobody", "type": "Central"}
    refused = csms.call(call.RequestStartTransaction(id_token=token, remote_start_id=5, evse_id=2))
    assert refused.status == "Rejected"
    assert csms.wait("Authorize")["idToken"] == {"idToken": "nobody", "type": "Central"}
    assert pile.status()["connectors"][1]["state"] == "authenticating"  # plugged, not started


def test_garbage_from_the_csms_changes_nothing(csms201: Csms201, ocpp201_pile: PileProcess) -> None:
    csms, pile = csms201, ocpp201_pile
    charging(csms, pile, 1)
    for text in ("not json", "[]", "{}", '[3,"never-sent",{}]', '[2,"x1","NoSuchAction",{}]'):
        csms.send_raw(text)
    csms.send_raw('[2,"x2","GetVariables",{"getVariableData":"all"}]')
    csms.send_raw('[2,"x3","SetDisplayMessage",{"message":{"id":1,"priority":"Soon"}}]')
    csms.wait_for_answer("x1")
    assert csms.answers_to("x1")[0][:3] == [4, "x1", "NotImplemented"]
    csms.wait_for_answer("x3")
    assert csms.answers_to("x2")[0][2] == "TypeConstraintViolation"
    assert csms.answers_to("x3")[0][0] == 4
    assert pile.status()["connectors"][0]["state"] == "charging"


def test_offline_a_reservation_s_code_still_starts_the_session(
    csms201: Csms201, ocpp201_pile: PileProcess
) -> None:
    csms, pile = csms201, ocpp201_pile
    expiry = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    code = {"id_token": "8642", "type": "KeyCode"}
    csms.call(call.ReserveNow(id=12, expiry_date_time=expiry, id_token=code, evse_id=2))
    csms.go_away()
    pile.wait_until(lambda r: not r["backend"]["connected"])
    pile.sim("plug", 2)
    pile.sim("code", 2, "8642")
    pile.wait_until(lambda r: r["connectors"][1]["state"] == "charging")
    csms.come_back()
    started = csms.wait("TransactionEvent", eventType="Started", timeout=90)
    assert (started["reservationId"], started["idToken"]["idToken"]) == (12, "8642")
    assert started["offline"] is True  # it began while the CSMS was out of reach


@pytest.mark.wall_clock("the daemon is killed at an instant of real time")
def test_an_outage_with_a_kill_inside_loses_nothing_and_seq_no_stays_gapless(
    tmp_path: Path, csms201: Csms201
) -> None:
    csms = csms201
    options = ocpp_options(csms.url, protocol="ocpp2.0.1")
    pile = PileProcess(tmp_path, 1, connectors=1, interval_s=1, **options).start()
    try:
        csms.wait_connected()
        tid = charging(csms, pile, 1)
        pile.wait_until(lambda r: r["backend"]["outbox"] == 0)  # the Started is answered
        cost = outage_with_a_kill_inside(csms, pile)
        csms.wait("TransactionEvent", eventType="Ended", timeout=90)
        sent: list[dict[str, Any]] = csms.calls("TransactionEvent")
        assert [e["transactionInfo"]["transactionId"] for e in sent] == [tid] * len(sent)
        assert [e["seqNo"] for e in sent] == list(range(len(sent)))  # once each, in order
        assert [e["eventType"] for e in sent] == ["Started"] + ["Updated"] * (len(sent) - 2) + [
            "Ended"
        ]
        assert len(sent) >= 3
        assert "offline" not in sent[0]  # told at once
        assert all(e["offline"] is True for e in sent[1:])  # journaled during the outage
        times = [v["timestamp"] for e in sent for v in e["meterValue"]]
        assert times == sorted(times)
        begin = sent[0]["meterValue"][0]["sampledValue"][0]["value"]
        end = sent[-1]["meterValue"][0]["sampledValue"][0]["value"]
        assert end - begin >= 1700
        paid = csms.call(
            call.DataTransfer(
                vendor_id="pile-controller",
                message_id="PaymentSettled",
                data=json.dumps({"transactionId": tid, "amount": cost}),
            )
        )
        assert paid.status == "Accepted"
        pile.wait_until(lambda r: not r["connectors"][0]["cable_locked"])
    finally:
        pile.stop()
