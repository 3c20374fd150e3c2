"""Against npm's ocpp-rpc in strict mode: every message the pile sends, its CALLs and its
answers to every CALL of CONTRACT 10, is valid against the official OCPP 1.6 schemas, and no
time has more than three decimals."""

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
    with strict_pile(tmp_path, "ocpp1.6") as both:
        yield both


def test_a_whole_paid_cycle_and_every_call_is_valid(strict: tuple[StrictCsms, PileProcess]) -> None:
    csms, pile = strict
    uploads = HttpUploads()  # diagnostics and logs
    csms.wait("StatusNotification", connectorId=2, status="Available")
    ok = csms.call(
        "ReserveNow",
        {"connectorId": 1, "expiryDate": in_minutes(30), "idTag": "13579", "reservationId": 3},
    )
    assert ok == {"event": "result", "ref": 1, "result": {"status": "Accepted"}}
    pile.sim("plug", 1)
    pile.sim("code", 1, "13579")
    start = csms.wait("StartTransaction", reservationId=3)
    tid = 5001
    pile.sim("clock", "+1800")
    pile.wait_until(lambda r: r["connectors"][0]["energy_wh"] >= 3500)
    pile.sim("clock", "+120")  # periodic samples wait in memory up to a minute for a commit
    meter = csms.wait("MeterValues", transactionId=tid)
    measurands = {v["measurand"] for v in meter["meterValue"][0]["sampledValue"]}
    assert measurands == {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
    }
    answers = {
        "GetConfiguration": {},
        "ChangeConfiguration": {"key": "MeterValueSampleInterval", "value": "30"},
        "TriggerMessage": {"requestedMessage": "Heartbeat"},
        "GetDiagnostics": {"location": uploads.url},  # DiagnosticsStatusNotification
        "SetChargingProfile": {
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": 9,
                "stackLevel": 1,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "startSchedule": in_minutes(-1),
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
                },
            },
        },
        "GetCompositeSchedule": {"connectorId": 1, "duration": 3600},
        "ClearChargingProfile": {"id": 9},
        "ChangeAvailability": {"connectorId": 2, "type": "Inoperative"},
        "ClearCache": {},
        "DataTransfer": {"vendorId": "someone.else"},
        "CancelReservation": {"reservationId": 99},
        "UnlockConnector": {"connectorId": 2},
        "RemoteStopTransaction": {"transactionId": tid},
    }
    for method, params in answers.items():
        answer = csms.call(method, params)
        assert "result" in answer, (method, answer)
    csms.wait("Heartbeat")
    # No update runs: a triggered FirmwareStatusNotification says Idle.
    trigger = csms.call("TriggerMessage", {"requestedMessage": "FirmwareStatusNotification"})
    assert trigger["result"] == {"status": "Accepted"}
    csms.wait("FirmwareStatusNotification", status="Idle")
    csms.wait("DiagnosticsStatusNotification", status="Uploaded")
    stop = csms.wait("StopTransaction", transactionId=tid)
    assert stop["meterStop"] - start["meterStart"] >= 3500
    paid = csms.call(
        "DataTransfer",
        {
            "vendorId": "pile-controller",
            "messageId": "PaymentSettled",
            "data": json.dumps(
                {"transactionId": tid, "amount": pile.status()["connectors"][0]["cost"]}
            ),
        },
    )
    assert paid["result"] == {"status": "Accepted"}
    pile.wait_until(lambda r: not r["connectors"][0]["cable_locked"])
    # CONTRACT 12, one at a time: each is under way until its last notification.
    log = {"remoteLocation": uploads.url}
    answer = csms.call("GetLog", {"logType": "DiagnosticsLog", "requestId": 5, "log": log})
    assert answer["result"]["status"] == "Accepted", answer
    csms.wait("LogStatusNotification", status="Uploaded", requestId=5)
    # This pile does not run from scripts/install's releases: each update fails at once.
    firmware = {
        "location": "http://127.0.0.1:9/pile-controller-9.9.9.tar.gz",
        "retrieveDateTime": in_minutes(-1),
        "signingCertificate": "-----BEGIN CERTIFICATE-----",
        "signature": "A" * 86 + "==",
    }
    answer = csms.call("SignedUpdateFirmware", {"requestId": 6, "firmware": firmware})
    assert answer["result"] == {"status": "Accepted"}, answer
    csms.wait("SignedFirmwareStatusNotification", status="InstallationFailed", requestId=6)
    plain = {"location": firmware["location"], "retrieveDate": in_minutes(-1)}
    assert csms.call("UpdateFirmware", plain)["result"] == {}
    csms.wait("FirmwareStatusNotification", status="InstallationFailed")
