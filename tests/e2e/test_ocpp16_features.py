"""CONTRACT 10's smaller promises, each against the mobilityhouse `ocpp` library as the CSMS:
configuration keys journaled, charging profiles driving the pilot, the cable released at the
stop when it is not held, UnlockConnector as the operator's release, Reset, and the security
profiles (Basic authentication, TLS with the CSMS's certificate checked, a client
certificate), those on 2.0.1 too."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ocpp.v16 import call

from rig.backend import in_minutes
from rig.certs import Authority
from rig.csms import Csms
from rig.csms201 import Csms201
from rig.pile import PileProcess
from tests.e2e.ocpp_rig import charging, ocpp_options


def test_configuration_changes_are_kept_across_a_restart(
    csms: Csms, ocpp_pile: PileProcess
) -> None:
    change = call.ChangeConfiguration(key="MeterValueSampleInterval", value="60")
    assert csms.call(change).status == "Accepted"
    assert (
        csms.call(call.ChangeConfiguration(key="NumberOfConnectors", value="9")).status
        == "Rejected"
    )
    assert (
        csms.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="-1")).status
        == "Rejected"
    )
    assert csms.call(call.ChangeConfiguration(key="Teleport", value="1")).status == "NotSupported"
    site = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "ChargePointMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": in_minutes(-1),
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 20.0}],
        },
    }
    reply = csms.call(call.SetChargingProfile(connector_id=0, cs_charging_profiles=site))
    assert reply.status == "Accepted"
    ocpp_pile.stop()
    csms.station = None
    ocpp_pile.start()
    csms.wait_connected()
    got = csms.call(
        call.GetConfiguration(key=["MeterValueSampleInterval", "NumberOfConnectors", "Nope"])
    )
    values = {k["key"]: (k["value"], k["readonly"]) for k in got.configuration_key}
    assert values == {"MeterValueSampleInterval": ("60", False), "NumberOfConnectors": ("2", True)}
    assert got.unknown_key == ["Nope"]
    kept = csms.call(call.GetCompositeSchedule(connector_id=0, duration=60))  # profiles too
    assert kept.charging_schedule["charging_schedule_period"][0]["limit"] == 20.0


def test_a_charging_profile_sets_the_pilot_and_clearing_it_lifts_the_limit(
    csms: Csms, ocpp_pile: PileProcess
) -> None:
    pile = ocpp_pile
    charging(csms, pile, 1)
    profile = {
        "chargingProfileId": 5,
        "stackLevel": 2,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "W",
            "startSchedule": in_minutes(-1),
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6900.0, "numberPhases": 3}],
        },
    }
    reply = csms.call(call.SetChargingProfile(connector_id=1, cs_charging_profiles=profile))
    assert reply.status == "Accepted"
    pile.wait_until(lambda r: r["connectors"][0]["current_limit_a"] == 10.0)
    schedule = csms.call(call.GetCompositeSchedule(connector_id=1, duration=600))
    assert schedule.status == "Accepted"
    assert schedule.charging_schedule["charging_schedule_period"][0]["limit"] == 10.0
    assert csms.call(call.ClearChargingProfile(id=5)).status == "Accepted"
    pile.wait_until(lambda r: r["connectors"][0]["current_limit_a"] == 32.0)
    assert csms.call(call.ClearChargingProfile(id=5)).status == "Unknown"


def test_without_hold_cable_the_stop_releases_the_cable(tmp_path: Path, csms: Csms) -> None:
    pile = PileProcess(
        tmp_path, 1, connectors=1, payment_extra="hold_cable = false", **ocpp_options(csms.url)
    ).start()
    try:
        csms.wait_connected()
        charging(csms, pile, 1, "fleet-card")
        pile.sim("clock", "+600")
        pile.sim("stop-button", 1)
        csms.wait("StopTransaction")
        pile.wait_until(lambda r: r["connectors"][0]["state"] == "unlocked")
        assert not pile.status()["connectors"][0]["cable_locked"]
    finally:
        pile.stop()


def test_unlock_connector_releases_an_unpaid_cable_as_the_operator_s_decision(
    csms: Csms, ocpp_pile: PileProcess
) -> None:
    pile = ocpp_pile
    assert csms.call(call.UnlockConnector(connector_id=1)).status == "Unlocked"  # nothing held
    charging(csms, pile, 2)
    assert csms.call(call.UnlockConnector(connector_id=2)).status == "UnlockFailed"  # charging
    pile.sim("clock", "+600")
    pile.sim("stop-button", 2)
    pile.wait_until(lambda r: r["connectors"][1]["state"] == "awaiting_payment")
    assert csms.call(call.UnlockConnector(connector_id=2)).status == "Unlocked"
    pile.wait_until(lambda r: not r["connectors"][1]["cable_locked"])
    assert csms.call(call.UnlockConnector(connector_id=7)).status == "NotSupported"


def test_a_soft_reset_stops_the_session_with_its_reason_and_restarts(
    csms: Csms, ocpp_pile: PileProcess
) -> None:
    pile = ocpp_pile
    charging(csms, pile, 1)
    assert csms.call(call.Reset(type="Soft")).status == "Accepted"
    assert csms.wait("StopTransaction")["reason"] == "SoftReset"
    assert pile.process is not None
    assert pile.process.wait(timeout=15) == 0  # systemd starts it again (Restart=always)


# The security profiles are the session's, whatever the version: each is shown on both.
VERSIONS = pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
CSMS = {"ocpp1.6": Csms, "ocpp2.0.1": Csms201}


@VERSIONS
def test_a_wrong_password_is_one_line_and_the_right_one_connects(
    tmp_path: Path, protocol: str
) -> None:
    server = CSMS[protocol](password="s3cret-key").start()
    (tmp_path / "pw").write_text("wrong\n")
    extra = f'security_profile = 1\npassword_file = "{tmp_path}/pw"'
    options = ocpp_options(server.url, extra, protocol)
    pile = PileProcess(tmp_path / "p", 1, connectors=1, **options).start()
    try:
        pile.wait_until(lambda r: server.refused >= 2, timeout=15)
        refusals = [line for line in pile.logs().splitlines() if "401" in line]
        assert len(refusals) == 1 and "ocpp.password_file" in refusals[0]
        assert not pile.status()["backend"]["connected"]
        pile.stop()
        (tmp_path / "pw").write_text("s3cret-key\n")
        pile.start()
        server.wait_connected()
        pile.wait_until(lambda r: r["backend"]["connected"])
    finally:
        pile.stop()
        server.stop()


@pytest.fixture
def authority(tmp_path: Path) -> Iterator[Authority]:
    yield Authority(tmp_path / "ca")


def csms_tls(authority: Authority, client_ca: Authority | None = None) -> ssl.SSLContext:
    issued = authority.issue("127.0.0.1", server=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(issued.cert, issued.key)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca.cert)
    return ctx


@VERSIONS
def test_profile_2_checks_the_csms_certificate(
    tmp_path: Path, authority: Authority, protocol: str
) -> None:
    server = CSMS[protocol](password="pw-2", tls=csms_tls(authority)).start()
    (tmp_path / "pw").write_text("pw-2")
    stranger = Authority(tmp_path / "other", name="Other CA")
    try:
        for ca, connects in ((stranger.cert, False), (authority.cert, True)):
            extra = f'security_profile = 2\npassword_file = "{tmp_path}/pw"\nca_file = "{ca}"'
            options = ocpp_options(server.url, extra, protocol)
            pile = PileProcess(tmp_path / f"p{connects}", 1, connectors=1, **options).start()
            try:
                if connects:
                    pile.wait_until(lambda r: r["backend"]["connected"])
                else:
                    pile.wait_until(lambda r, p=pile: "certificate" in p.logs(), timeout=15)
                    lines = [x for x in pile.logs().splitlines() if "certificate" in x]
                    assert len(lines) == 1 and server.url in lines[0]
            finally:
                pile.stop()
    finally:
        server.stop()


@VERSIONS
def test_profile_3_connects_with_the_pile_s_certificate(
    tmp_path: Path, authority: Authority, protocol: str
) -> None:
    server = CSMS[protocol](tls=csms_tls(authority, client_ca=authority)).start()
    mine = authority.issue("PILE-T1")
    extra = (
        f'security_profile = 3\nca_file = "{authority.cert}"\n'
        f'cert_file = "{mine.cert}"\nkey_file = "{mine.key}"'
    )
    options = ocpp_options(server.url, extra, protocol)
    pile = PileProcess(tmp_path, 1, connectors=1, **options).start()
    try:
        pile.wait_until(lambda r: r["backend"]["connected"])
        assert pile.status()["backend"]["protocol"] == protocol
    finally:
        pile.stop()
        server.stop()


def test_a_pending_boot_is_asked_again_until_accepted_and_heartbeats_follow(tmp_path: Path) -> None:
    server = Csms().start()
    server.boot_status, server.heartbeat_s = "Pending", 1
    pile = PileProcess(tmp_path, 1, connectors=1, **ocpp_options(server.url)).start()
    try:
        server.wait_connected()
        deadline = 10.0
        server.wait("BootNotification", timeout=deadline, after=2)  # asked every second
        assert not server.calls("StatusNotification")  # nothing but the boot while pending
        server.boot_status = "Accepted"
        server.wait("StatusNotification", connectorId=1, timeout=deadline)
        server.wait("Heartbeat", timeout=deadline)
        assert len(server.calls("BootNotification")) >= 2
        assert pile.status()["backend"]["connected"]
        assert pile.logs().count("answered the boot Pending") == 1  # then once a minute
    finally:
        pile.stop()
        server.stop()


def test_a_start_the_csms_refuses_is_stopped_deauthorized(
    csms: Csms, ocpp_pile: PileProcess
) -> None:
    csms.id_tag_status = "Invalid"
    ocpp_pile.sim("plug", 1)
    csms.call(call.RemoteStartTransaction(id_tag="stolen-card", connector_id=1))
    assert csms.wait("StopTransaction")["reason"] == "DeAuthorized"


def test_trigger_message_sends_what_was_asked(csms: Csms, ocpp_pile: PileProcess) -> None:
    pile = ocpp_pile
    pile.sim("plug", 1)
    csms.call(call.RemoteStartTransaction(id_tag="t", connector_id=1))
    csms.wait("StartTransaction")
    pile.wait_until(lambda r: r["connectors"][0]["ocpp_transaction_id"] is not None)
    before = len(csms.calls("StatusNotification"))
    reply = csms.call(call.TriggerMessage(requested_message="StatusNotification", connector_id=2))
    assert reply.status == "Accepted"
    csms.wait("StatusNotification", connectorId=2, after=before)
    assert (
        csms.call(call.TriggerMessage(requested_message="MeterValues", connector_id=1)).status
        == "Accepted"
    )
    csms.wait("MeterValues", connectorId=1)
    assert csms.call(call.TriggerMessage(requested_message="Heartbeat")).status == "Accepted"
    csms.wait("Heartbeat")
    reply = csms.call(call.TriggerMessage(requested_message="DiagnosticsStatusNotification"))
    assert reply.status == "Accepted"
    csms.wait("DiagnosticsStatusNotification", status="Idle")  # no upload runs
    reply = csms.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert reply.status == "Scheduled"  # a transaction runs there
    later = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for cid, tag, status in ((1, "1357", "Occupied"), (2, "not-a-code", "Rejected")):
        reserve = call.ReserveNow(connector_id=cid, expiry_date=later, id_tag=tag, reservation_id=5)
        assert csms.call(reserve).status == status


def test_offline_a_reservation_s_code_still_starts_the_session(
    csms: Csms, ocpp_pile: PileProcess
) -> None:
    pile = ocpp_pile
    expiry = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    csms.call(call.ReserveNow(connector_id=2, expiry_date=expiry, id_tag="8642", reservation_id=12))
    csms.go_away()
    pile.wait_until(lambda r: not r["backend"]["connected"])
    pile.sim("plug", 2)
    pile.sim("code", 2, "8642")
    pile.wait_until(lambda r: r["connectors"][1]["state"] == "charging")
    assert pile.status()["connectors"][1]["ocpp_transaction_id"] is None
    csms.come_back()
    start = csms.wait("StartTransaction", timeout=90)
    assert (start["reservationId"], start["idTag"]) == (12, "8642")
    pile.wait_until(lambda r: r["connectors"][1]["ocpp_transaction_id"] == 1001)


def test_a_remote_start_for_no_connector_with_its_own_profile(
    csms: Csms, ocpp_pile: PileProcess
) -> None:
    pile = ocpp_pile
    pile.sim("plug", 2)  # the core chooses the connector a vehicle is plugged into
    profile = {
        "chargingProfileId": 3,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
        },
    }
    start = call.RemoteStartTransaction(id_tag="any", charging_profile=profile)
    assert csms.call(start).status == "Accepted"
    csms.wait("StartTransaction", connectorId=2, idTag="any")
    pile.wait_until(lambda r: r["connectors"][1]["current_limit_a"] == 10.0)
