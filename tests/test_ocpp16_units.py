"""The OCPP 1.6J link's pure parts: frames and the CALLERROR each broken rule gets, the fault
-> errorCode mapping, transaction messages from journaled events, configuration keys, and the
limit charging profiles give a connector at an instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pile_controller.backend.ocpp import rpc
from pile_controller.backend.ocpp.smart import Profiles, Running
from pile_controller.backend.ocpp.v16 import messages
from pile_controller.backend.ocpp.v16.configuration import Configuration
from pile_controller.config import Settings
from rig.bench import Bench, bench_settings

SCHEMAS = rpc.Schemas("v16")
T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("nonsense", "FormationViolation"),
        ('{"a":1}', "FormationViolation"),
        ('[2,"x"]', "FormationViolation"),
    ],
)
def test_what_is_not_a_frame_is_a_formation_violation(text: str, code: str) -> None:
    with pytest.raises(rpc.RpcError) as caught:
        rpc.decode(text)
    assert caught.value.code == code


def test_a_frame_with_an_id_is_answered_on_that_id() -> None:
    with pytest.raises(rpc.FrameError) as caught:
        rpc.decode('[9,"abc",{}]')
    assert caught.value.mid == "abc"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({}, "OccurenceConstraintViolation"),
        ({"idTag": 5}, "TypeConstraintViolation"),
        ({"idTag": "x" * 21}, "FormationViolation"),
        ({"idTag": "ok", "bogus": 1}, "PropertyConstraintViolation"),
    ],
)
def test_each_broken_rule_gets_the_error_ocpp_rpc_names(payload: object, code: str) -> None:
    with pytest.raises(rpc.RpcError) as caught:
        SCHEMAS.check("RemoteStartTransaction", payload)
    assert caught.value.code == code


def test_a_time_with_more_than_three_decimals_is_never_written() -> None:
    body = messages.pile_status([], "2026-12-05T08:00:00.123Z")
    SCHEMAS.check("StatusNotification", body)


def test_faults_map_to_their_error_codes() -> None:
    bench = Bench()
    c = bench.pile.connectors[1]
    from pile_controller.core.faults import CATALOGUE, FaultCode

    expected = {
        FaultCode.CABLE_LOCK_FAILURE: ("ConnectorLockFailure", None),
        FaultCode.RCD_TRIP: ("GroundFailure", None),
        FaultCode.RELAY_WELDED: ("PowerSwitchFailure", None),
        FaultCode.METER_FAILURE: ("PowerMeterFailure", None),
        FaultCode.PILOT_FAULT: ("EVCommunicationError", None),
        FaultCode.EMERGENCY_STOP: ("OtherError", "EmergencyStop"),
    }
    for code, (error, vendor) in expected.items():
        c.faults = {code: CATALOGUE[code]}
        body = messages.status(c, "2026-12-05T08:00:00.000Z")
        assert (body["errorCode"], body.get("vendorErrorCode")) == (error, vendor)
        SCHEMAS.check("StatusNotification", body)


def test_a_stop_carries_the_registers_it_was_billed_on() -> None:
    event = {
        "connector": 1,
        "ts": at(30),
        "data": {
            "transaction_id": "T",
            "meter_start_wh": 1000,
            "meter_stop_wh": 4500,
            "stopped_at": at(30),
            "reason": "CostLimitReached",
            "receipt": {"started_at": at(0), "id_token": "alice"},
        },
    }
    body = messages.stop_transaction(event, 77)
    SCHEMAS.check("StopTransaction", body)
    assert body["reason"] == "Other"  # a reason OCPP 1.6 does not name
    begin, end = body["transactionData"]
    assert (begin["timestamp"], begin["sampledValue"][0]["value"]) == (at(0), "1000")
    assert (end["timestamp"], end["sampledValue"][0]["value"]) == (at(30), "4500")


def test_sampled_data_names_the_measurands_sent() -> None:
    data = {
        "energy_register_wh": 5,
        "power_w": 7000.5,
        "voltage_v": [230.0] * 3,
        "current_a": [10.0] * 3,
    }
    values = messages.sampled_values(
        data, "Sample.Periodic", "Energy.Active.Import.Register,Voltage"
    )
    assert [(v["measurand"], v.get("phase")) for v in values] == [
        ("Energy.Active.Import.Register", None),
        ("Voltage", "L1"),
        ("Voltage", "L2"),
        ("Voltage", "L3"),
    ]
    power = messages.sampled_values(data, "Sample.Periodic", "Power.Active.Import")
    assert power[0]["value"] == "7000.5"


def settings() -> Settings:
    return bench_settings((1, 2))


def test_configuration_keys_refuse_what_they_cannot_be() -> None:
    config = Configuration(settings(), None)
    assert config.change("MeterValuesSampledData", "Voltage,Teleport") == "Rejected"
    assert config.change("CustomDisplayCostAndPrice", "maybe") == "Rejected"
    assert config.change("SupportedFeatureProfiles", "Core") == "Rejected"
    assert config.change("HeartbeatInterval", "60") == "Accepted"
    again = Configuration(settings(), config.saved())
    assert again["HeartbeatInterval"] == "60"
    body = again.get(None)
    assert len(body["configurationKey"]) == len(again.keys)  # type: ignore[arg-type]
    SCHEMAS.check("GetConfiguration", {}, response=False)
    SCHEMAS.check("GetConfiguration", body, response=True)


def profile(
    pid: int, level: int, purpose: str, limit: float, **schedule: object
) -> dict[str, object]:
    return {
        "chargingProfileId": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": schedule.pop("kind", "Absolute"),
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": at(0),
            "chargingSchedulePeriod": schedule.pop("periods", [{"startPeriod": 0, "limit": limit}]),
            **schedule,
        },
    }


def test_the_highest_stack_level_in_force_wins_and_periods_begin_on_time() -> None:
    p = Profiles(None)
    p.install(1, profile(1, 0, "TxDefaultProfile", 32))
    stepped = [{"startPeriod": 0, "limit": 16}, {"startPeriod": 600, "limit": 8}]
    p.install(1, profile(2, 5, "TxDefaultProfile", 0, periods=stepped, duration=1200))
    assert p.limit(1, T0 + timedelta(minutes=5), None) == 16
    assert p.limit(1, T0 + timedelta(minutes=10), None) == 8
    assert p.limit(1, T0 + timedelta(minutes=25), None) == 32  # past its duration
    assert p.limit(2, T0, None) is None
    p.install(0, profile(3, 0, "ChargePointMaxProfile", 40))
    assert p.limit(0, T0, None) == 40
    composite = p.composite(1, T0 + timedelta(minutes=5), 1800, None)
    assert composite == [(0, 16), (300, 8), (900, 32)]


def test_a_tx_profile_is_for_its_transaction_and_ends_with_it() -> None:
    p = Profiles(None)
    p.install(1, profile(1, 0, "TxDefaultProfile", 32))
    tx = profile(2, 0, "TxProfile", 6, kind="Relative")
    del tx["chargingSchedule"]["startSchedule"]  # type: ignore[attr-defined]
    tx["transactionId"] = 77
    p.install(1, tx)
    running = Running(T0, 77)
    assert p.limit(1, T0 + timedelta(minutes=1), running) == 6
    assert p.limit(1, T0 + timedelta(minutes=1), Running(T0, 78)) == 32
    p.end_transaction(1)
    assert p.limit(1, T0 + timedelta(minutes=1), running) == 32
    assert Profiles(p.saved()).installed == p.installed


def test_a_daily_profile_recurs() -> None:
    p = Profiles(None)
    evening = [{"startPeriod": 0, "limit": 10}, {"startPeriod": 3600, "limit": 32}]
    p.install(0, profile(1, 0, "ChargePointMaxProfile", 0, kind="Recurring", periods=evening))
    p.installed[0][1]["recurrencyKind"] = "Daily"
    assert p.limit(0, T0 + timedelta(days=3, minutes=30), None) == 10
    assert p.limit(0, T0 + timedelta(days=3, minutes=90), None) == 32
