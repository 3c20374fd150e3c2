"""Against npm's ocpp-rpc in strict mode speaking 2.0.1: every message the pile sends, its CALLs
and its answers to every CALL of CONTRACT 11, is valid against the official OCPP 2.0.1 schemas,
and no time has more than three decimals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.backend import in_minutes
from rig.pile import PileProcess
from rig.strict_csms import StrictCsms
from rig.uploads import HttpUploads
from tests.e2e.ocpp_rig import strict_pile


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[tuple[StrictCsms, PileProcess]]:
    with strict_pile(tmp_path, "ocpp2.0.1") as both:
        yield both


def test_a_whole_paid_cycle_and_every_call_is_valid(strict: tuple[StrictCsms, PileProcess]) -> None:
    csms, pile = strict
    uploads = HttpUploads()
    csms.wait("StatusNotification", evseId=2, connectorStatus="Available")
    token = {"idToken": "13579", "type": "KeyCode"}
    ok = csms.call("ReserveNow", {"id": 3, "expiryDateTime": in_minutes(30), "idToken": token})
    assert ok["result"] == {"status": "Accepted"}, ok
    pile.sim("plug", 1)
    pile.sim("code", 1, "13579")
    started = csms.wait("TransactionEvent", eventType="Started", reservationId=3)
    tid = started["transactionInfo"]["transactionId"]
    pile.sim("clock", "+1800")
    pile.wait_until(lambda r: r["connectors"][0]["energy_wh"] >= 3500)
    pile.sim("clock", "+120")  # periodic samples wait in memory up to a minute for a commit
    updated = csms.wait("TransactionEvent", eventType="Updated")
    measurands = {v["measurand"] for v in updated["meterValue"][0]["sampledValue"]}
    assert measurands == {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
    }
    component = {"name": "SampledDataCtrlr"}
    variable = {"name": "TxUpdatedInterval"}
    profile = {
        "id": 9,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "A",
                "startSchedule": in_minutes(-1),
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
            }
        ],
    }
    answers = {
        "GetVariables": {"getVariableData": [{"component": component, "variable": variable}]},
        "SetVariables": {
            "setVariableData": [
                {"component": component, "variable": variable, "attributeValue": "30"},
                {"component": component, "variable": variable, "attributeValue": "soon"},
                {"component": {"name": "Nope"}, "variable": variable, "attributeValue": "1"},
            ]
        },
        "GetBaseReport": {"requestId": 4, "reportBase": "FullInventory"},
        "TriggerMessage": {"requestedMessage": "Heartbeat"},
        "SetChargingProfile": {"evseId": 1, "chargingProfile": profile},
        "GetCompositeSchedule": {"evseId": 1, "duration": 3600},
        "GetChargingProfiles": {"requestId": 7, "chargingProfile": {"stackLevel": 1}},
        "ClearChargingProfile": {"chargingProfileId": 9},
        "ChangeAvailability": {"operationalStatus": "Inoperative", "evse": {"id": 2}},
        "ClearCache": {},
        "DataTransfer": {"vendorId": "someone.else"},
        "CancelReservation": {"reservationId": 99},
        "UnlockConnector": {"evseId": 1, "connectorId": 1},
        "CostUpdated": {"totalCost": 1.25, "transactionId": tid},
        "SetDisplayMessage": {
            "message": {
                "id": 1,
                "priority": "InFront",
                "transactionId": tid,
                "message": {"format": "URI", "content": "https://pay.example/q/1"},
            }
        },
        "GetDisplayMessages": {"requestId": 6},
        "RequestStopTransaction": {"transactionId": tid},
    }
    for method, params in answers.items():
        answer = csms.call(method, params)
        assert "result" in answer, (method, answer)
    report = csms.wait("NotifyReport", requestId=4, seqNo=0)
    assert report["tbc"] is True  # more than 32 variables: in several messages
    csms.wait("NotifyDisplayMessages", requestId=6)
    assert csms.wait("ReportChargingProfiles", requestId=7)["chargingProfile"][0]["id"] == 9
    ended = csms.wait("TransactionEvent", eventType="Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "Remote"
    pile.wait_until(lambda r: r["connectors"][0]["cost"] == "2.50")  # the Ended's totalCost
    paid = csms.call(
        "DataTransfer",
        {
            "vendorId": "pile-controller",
            "messageId": "PaymentSettled",
            "data": json.dumps({"transactionId": tid, "amount": "2.50"}),
        },
    )
    assert paid["result"] == {"status": "Accepted"}
    pile.wait_until(lambda r: not r["connectors"][0]["cable_locked"])
    cleared = csms.call("ClearDisplayMessage", {"id": 1})  # gone with its paid transaction
    assert cleared["result"] == {"status": "Unknown"}
    # CONTRACT 12 on 2.0.1: nothing under way is Idle; each runs until its last notification.
    trigger = csms.call("TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"})
    assert trigger["result"] == {"status": "Accepted"}
    csms.wait("FirmwareStatusNotification", status="Idle")
    log = {"remoteLocation": uploads.url}
    answer = csms.call("GetLog", {"logType": "DiagnosticsLog", "requestId": 5, "log": log})
    assert answer["result"]["status"] == "Accepted", answer
    csms.wait("LogStatusNotification", status="Uploading", requestId=5)
    csms.wait("LogStatusNotification", status="Uploaded", requestId=5)
    assert len(uploads.received) == 1
    # This pile does not run from scripts/install's releases: the update fails at once.
    firmware = {
        "location": "http://127.0.0.1:9/pile-controller-9.9.9.tar.gz",
        "retrieveDateTime": in_minutes(-1),
        "signature": "A" * 86 + "==",
    }
    answer = csms.call("UpdateFirmware", {"requestId": 6, "firmware": firmware})
    assert answer["result"] == {"status": "Accepted"}, answer
    csms.wait("FirmwareStatusNotification", status="InstallationFailed", requestId=6)
    uploads.stop()
    pile.sim("estop", "on")  # a fault, named in a NotifyEvent
    csms.wait("NotifyEvent")
