"""The backend link under duplicates, malformed input, outages and restarts."""

import base64
import json
import signal
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pile_controller.core.times import iso
from pile_controller.signing import canonical, verify
from rig.backend import Backend, in_minutes
from rig.broker import Broker
from rig.pile import PileProcess, pilectl
from rig.proxy import HangingUp, Proxy


def reserve_fields(rid: str = "R1", connector: int = 1) -> dict[str, Any]:
    return {
        "connector": connector,
        "reservation_id": rid,
        "code": "1234",
        "id_token": "u",
        "expires_at": in_minutes(30),
    }


def charge(rig: Any, connector: int = 1) -> str:
    rig.pile.sim("plug", connector)
    mark = rig.backend.mark()
    rig.backend.ask("start", connector=connector, id_token="tester")
    return str(rig.backend.event("transaction.started", since=mark)["data"]["transaction_id"])


def test_a_duplicate_command_id_is_executed_once_and_answered_alike(rig: Any) -> None:
    duplicate_is_done_once(rig)


def duplicate_is_done_once(rig: Any) -> None:
    """The same command id twice (a backend retrying): done once, both answered alike."""
    be = rig.backend
    cid = be.command("reserve", **reserve_fields("R1"))
    first = be.reply(cid)
    be.command("reserve", command_id=cid, **reserve_fields("R2", connector=2))
    be.wait(lambda m: len(be.replies(cid)) == 2)
    assert be.replies(cid) == [first, first]
    be.event("reservation.accepted", reservation_id="R1")  # events follow their reply
    assert [
        e["data"]["reservation_id"] for e in be.events() if e["type"] == "reservation.accepted"
    ] == ["R1"]
    assert rig.pile.status()["connectors"][1]["state"] == "idle"


def test_malformed_commands_are_rejected_and_change_nothing(rig: Any) -> None:
    be = rig.backend
    be.raw("reserve", b"{this is not json")
    assert be.reply(None) == {"v": 1, "id": None, "status": "Rejected", "reason": "InvalidPayload"}
    bad = [
        ("reserve", {**reserve_fields(), "code": "12"}),
        ("reserve", {**reserve_fields(), "connector": -1}),
        ("payment", {"transaction_id": "t", "status": "paid", "amount": 3.5}),
        ("start", {"connector": "one", "id_token": "x"}),
        ("availability", {"connector": 1}),
        ("reserve", {**reserve_fields(), "expires_at": "soon"}),
    ]
    for name, fields in bad:
        reply = be.ask(name, **fields)
        assert (reply["status"], reply["reason"]) == ("Rejected", "InvalidPayload"), (name, fields)
    assert be.ask("selfdestruct")["reason"] == "UnknownCommand"
    assert be.ask("start", connector=9, id_token="x")["reason"] == "UnknownConnector"
    assert be.ask("stop", transaction_id="nope")["reason"] == "UnknownTransaction"
    be.raw("stop", b"\xff\xfe")
    be.raw("stop", b"[]")
    be.wait(lambda m: len(be.replies(None)) == 3)
    assert be.events() == []
    assert [c["state"] for c in rig.pile.status()["connectors"]] == ["idle", "idle"]


def test_reply_goes_to_the_response_topic_with_the_correlation_data(rig: Any) -> None:
    be = rig.backend
    cid = be.command("trigger", what="status", response_topic=True)
    m = be.wait(lambda m: m.topic.endswith("/responses"))
    assert m.payload == {"v": 1, "id": cid, "status": "Accepted"}
    assert m.correlation == cid.encode()
    assert be.reply(cid)["status"] == "Accepted"  # and on P/ID/replies as well


def test_trigger_republishes_online_status_and_meter(rig: Any) -> None:
    be = rig.backend
    mark = be.mark()
    for what in ("online", "status", "meter"):
        assert be.ask("trigger", what=what)["status"] == "Accepted"
    be.online()
    be.status(2, since=mark)
    be.event("meter.values", since=mark, context="Sample.Periodic")


def test_estop_while_charging_stops_bills_and_holds_faulted(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    tx = charge(rig)
    pile.sim("clock", "+900")
    pile.sim("estop", "on")
    stopped = be.event("transaction.stopped", transaction_id=tx)["data"]
    assert stopped["reason"] == "EmergencyStop" and stopped["energy_wh"] > 1700
    be.event("fault.raised", code="EmergencyStop")
    be.status(
        1,
        state="faulted",
        status="Faulted",
        fault={"code": "EmergencyStop", "message": "Emergency stop pressed"},
    )
    report = pile.status()["connectors"][0]
    assert not report["relay_closed"] and report["cable_locked"]
    table = pilectl("--socket", str(pile.socket), "status").stdout
    assert (
        "fault 1: EmergencyStop: Emergency stop pressed "
        "(clears when the emergency stop is released)"
    ) in table
    pile.sim("estop", "off")
    be.event("fault.cleared", code="EmergencyStop")
    be.status(1, state="awaiting_payment")


@pytest.mark.wall_clock("a real broker restarts; the link reconnects on its own backoff")
def test_broker_restart_while_charging_loses_and_doubles_nothing(rig: Any) -> None:
    broker_restart_loses_nothing(rig)


def broker_restart_loses_nothing(rig: Any) -> None:
    """Events made while the broker restarts arrive in order, none lost (the broker keeps the
    backend's session), and the pile is commanded again afterwards."""
    be, pile = rig.backend, rig.pile
    tx = charge(rig)
    # What was made before the outage has reached the backend: a broker that acknowledged an
    # event and then went down before passing it on (NATS did, once under load) is not this
    # test's subject; what the pile makes while the broker is away is.
    be.event("meter.values", transaction_id=tx, context="Transaction.Begin")
    rig.broker.stop()
    pile.wait_until(lambda r: not r["backend"]["connected"])
    pile.sim("clock", "+600")
    pile.sim("stop-button", 1)  # stopped and payment.requested, made while it is away
    pile.wait_until(lambda r: r["backend"]["outbox"] >= 2)
    rig.broker.start()  # RabbitMQ's node takes seconds to come back
    stopped = be.event("transaction.stopped", transaction_id=tx, timeout=90)
    be.event("payment.requested", transaction_id=tx, timeout=30)
    pile.wait_until(lambda r: r["backend"]["connected"] and r["backend"]["outbox"] == 0, 30)
    # At least once, in order: de-duplicated by seq, the events are 1..N in arrival order.
    first_seen = list(dict.fromkeys(e["seq"] for e in be.events()))
    assert first_seen == list(range(1, len(first_seen) + 1))
    assert stopped["data"]["reason"] == "Local"
    assert be.ask("trigger", what="status")["status"] == "Accepted"


def test_seq_continues_across_a_daemon_restart(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    be.ask("reserve", **reserve_fields("R1"))
    first = be.event("reservation.accepted")["seq"]
    pile.stop()
    pile.start()
    mark = be.mark()
    be.ask("reserve", **reserve_fields("R2", connector=2))
    assert be.event("reservation.accepted", reservation_id="R2", since=mark)["seq"] == first + 1


def test_a_delivered_event_is_out_of_the_outbox_and_leaves_the_journal_by_the_stop(
    rig: Any,
) -> None:
    rig.backend.ask("reserve", **reserve_fields("R1"))
    rig.backend.event("reservation.accepted")
    rig.pile.wait_until(lambda r: r["backend"]["outbox"] == 0)
    rig.pile.stop()  # delivered events leave in batches; at a clean stop, all of them
    journal = sqlite3.connect(f"file:{rig.pile.state / 'journal.sqlite'}?mode=ro", uri=True)
    assert journal.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    journal.close()


def test_the_last_will_says_offline_when_the_daemon_dies(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    pile.stop(signal.SIGKILL)
    be.online(online=False, timeout=60)


def test_a_clean_stop_says_offline_too(rig: Any) -> None:
    rig.pile.stop()
    assert rig.backend.online(online=False)["pile"] == rig.pile.pile_id


def test_tariff_is_applied_and_kept_across_restarts(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    body = {
        "v": 1,
        "id": "tariff-7",
        "ts": iso(datetime.now(UTC)),
        "tariff_id": "T-7",
        "currency": "CNY",
        "energy_price": "0.50",
        "service_fee": "0.10",
    }
    be.raw("tariff", json.dumps(body), retain=True)
    assert be.reply("tariff-7")["status"] == "Accepted"
    be.raw("tariff", b"", retain=True)  # the broker forgets it; the pile must not
    pile.stop()
    pile.start()
    tx = charge(rig)
    pile.sim("clock", "+3600")
    pile.sim("stop-button", 1)
    cost = be.event("transaction.stopped", transaction_id=tx)["data"]["cost"]
    assert cost["tariff_id"] == "T-7"


def test_the_receipt_verifies_with_the_key_in_the_birth_message(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    key = base64.b64decode(be.online()["public_key"])
    tx = charge(rig)
    pile.sim("clock", "+60")
    pile.sim("stop-button", 1)
    receipt = dict(be.event("transaction.stopped", transaction_id=tx)["data"]["receipt"])
    sig = receipt.pop("sig")
    assert verify(key, receipt, sig)


def test_signed_commands_only_when_a_backend_key_is_set(make_rig: Any) -> None:
    backend_key = Ed25519PrivateKey.generate()
    public = base64.b64encode(backend_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    rig = make_rig(backend_extra=f'public_key = "{public.decode()}"')
    be = rig.backend
    unsigned = be.ask("reserve", **reserve_fields("R1"))
    assert (unsigned["status"], unsigned["reason"]) == ("Rejected", "BadSignature")
    be.sign = lambda body: base64.b64encode(backend_key.sign(canonical(body))).decode()
    assert be.ask("reserve", **reserve_fields("R1"))["status"] == "Accepted"
    forged_id = be.command("cancel_reservation", reservation_id="R1")
    be.reply(forged_id)
    be.sign = None
    # A forged command reusing a genuine id gets no execution, and does not poison the id.
    be.command("unlock", command_id="genuine-later", connector=1)
    assert be.reply("genuine-later")["reason"] == "BadSignature"
    be.sign = lambda body: base64.b64encode(backend_key.sign(canonical(body))).decode()
    be.command("trigger", command_id="genuine-later", what="status")
    be.wait(lambda m: len(be.replies("genuine-later")) == 2)
    assert be.replies("genuine-later")[1]["status"] == "Accepted"


def test_pilectl_status_json_and_table(rig: Any) -> None:
    charge(rig, 2)
    run = pilectl("--config", str(rig.pile.config), "status", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["pile_id"] == "PILE-T1" and report["backend"] == {
        "protocol": "mqtt",
        "peer": f"127.0.0.1:{rig.broker.port}",
        "connected": True,
        "outbox": 0,
    }
    c2 = report["connectors"][1]
    assert set(c2) == {
        "id",
        "state",
        "status",
        "reservation_id",
        "transaction_id",
        "energy_wh",
        "power_w",
        "cost",
        "relay_closed",
        "cable_locked",
        "fault",
        "cp",
        "current_limit_a",
        "pp_a",
        "meter",
    }
    assert (c2["id"], c2["state"], c2["relay_closed"], c2["cable_locked"]) == (
        2,
        "charging",
        True,
        True,
    )
    assert (c2["cp"], c2["current_limit_a"], c2["pp_a"]) == ("C", 32.0, 32)
    table = pilectl("--socket", str(rig.pile.socket), "status")
    assert table.returncode == 0, table.stderr
    assert "charging" in table.stdout and "connected" in table.stdout and "C 32A" in table.stdout


def test_pilectl_sim_refuses_nonsense_in_one_line(rig: Any) -> None:
    run = pilectl("--socket", str(rig.pile.socket), "sim", "plug", "7")
    assert run.returncode == 1
    assert run.stderr.strip() == "pilectl: no connector '7' (have [1, 2])"


@pytest.mark.wall_clock("a proxy drops the connection; the link reconnects on its own backoff")
def test_events_lost_in_flight_are_resent_before_newer_ones(tmp_path: Path) -> None:

    with Broker(tmp_path / "broker") as broker:
        proxy = Proxy(broker.port)
        pile = PileProcess(tmp_path / "pile", proxy.port).start()
        be = Backend(broker.port, pile.pile_id).connect()
        try:
            be.online()
            pile.sim("plug", 1)
            be.ask("start", connector=1, id_token="x")  # seq 1, 2
            be.event("meter.values", context="Transaction.Begin")
            proxy.set("swallow")  # the network eats what the pile sends now
            pile.sim("clock", "+600")
            pile.sim("stop-button", 1)  # handed to the link, lost on the way
            pile.wait_until(lambda r: r["connectors"][0]["state"] == "awaiting_payment")
            proxy.set("down")
            pile.wait_until(lambda r: not r["backend"]["connected"])
            pile.sim("estop", "on")  # newer events, made while the link is down
            proxy.set("up")
            be.event("fault.raised", code="EmergencyStop", timeout=30)
            first_seen = list(dict.fromkeys(e["seq"] for e in be.events()))
            assert first_seen == list(range(1, len(first_seen) + 1)), first_seen
        finally:
            be.close()
            pile.stop()
            proxy.close()


def test_a_pile_on_an_mqtt_3_1_1_broker_works_without_the_mqtt_5_extras(make_rig: Any) -> None:
    rig = make_rig(backend_extra='mqtt_version = "3.1.1"')
    be = rig.backend
    cid = be.command("reserve", response_topic=True, **reserve_fields("R1"))
    assert be.reply(cid)["status"] == "Accepted"  # on P/ID/replies; no response topic in 3.1.1
    be.event("reservation.accepted", reservation_id="R1")
    be.status(1, state="reserved")
    log = (rig.broker.workdir / "mosquitto.log").read_text()
    assert "as pile-PILE-T1 (p2," in log  # mosquitto's log calls MQTT 3.1.1 "p2" (v5: "p5")


def test_a_welded_contactor_is_latched_until_a_technician_clears_it(rig: Any) -> None:
    be, pile = rig.backend, rig.pile
    tx = charge(rig)
    pile.sim("weld", 1, "on")
    pile.sim("stop-button", 1)
    be.event("fault.raised", code="RelayWelded")
    be.event("transaction.stopped", transaction_id=tx)
    refused = pilectl("--socket", str(pile.socket), "fault", "clear", "1")
    assert refused.returncode == 1
    assert refused.stderr == (
        "pilectl: fault clear refused: RelayWelded: the contactor's feedback still reports closed\n"
    )
    pile.sim("weld", 1, "off")
    assert pile.status()["connectors"][0]["fault"]["code"] == "RelayWelded"  # latched
    done = pilectl("--socket", str(pile.socket), "fault", "clear", "1")
    assert (done.returncode, done.stdout) == (0, "connector 1: fault cleared\n")
    be.event("fault.cleared", code="RelayWelded")


OUTAGE_S = 30  # issue #12: a broker away for half a minute, with a daemon restart inside it


@pytest.mark.wall_clock("a real broker is away for OUTAGE_S; the daemon restarts meanwhile")
def test_a_broker_outage_with_a_daemon_restart_inside_loses_nothing_and_keeps_order(
    rig: Any,
) -> None:
    be, pile = rig.backend, rig.pile
    tx = charge(rig)
    away = time.monotonic()
    rig.broker.stop()
    pile.wait_until(lambda r: not r["backend"]["connected"])
    pile.sim("clock", "+600")
    pile.sim("stop-button", 1)  # stopped and billed while the broker is away
    pile.wait_until(lambda r: r["backend"]["outbox"] >= 3)
    pile.stop(signal.SIGKILL)
    pile.start()  # the outbox survives in the journal; the new daemon makes more events
    pile.sim("plug", 2)
    pile.sim("estop", "on")
    pile.wait_until(lambda r: r["connectors"][1]["state"] == "faulted")
    held = pile.status()["backend"]["outbox"]
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - away)))
    rig.broker.start()
    be.event("fault.raised", code="EmergencyStop", timeout=60)
    pile.wait_until(lambda r: r["backend"]["connected"] and r["backend"]["outbox"] == 0, 30)
    first_seen = list(dict.fromkeys(e["seq"] for e in be.events()))
    assert first_seen == list(range(1, len(first_seen) + 1)), "lost, or out of order"
    types = [e["type"] for e in {e["seq"]: e for e in be.events()}.values()]
    assert types.count("transaction.stopped") == 1 and held >= 4
    stopped = be.event("transaction.stopped", transaction_id=tx)["data"]
    assert stopped["reason"] == "Local"


def test_a_command_sent_on_seeing_the_first_birth_is_answered(tmp_path: Path) -> None:
    # The birth says the pile takes commands: it is published only once the subscription
    # is in place, so a backend acting on it at once is heard (on a first connection, with no
    # session to queue it, such a command was once lost).
    with Broker(tmp_path / "broker") as broker:
        for i in range(5):
            pile = PileProcess(tmp_path / f"pile{i}", broker.port, pile_id=f"FRESH-{i}")
            be = Backend(broker.port, pile.pile_id)

            def on_birth(m: Any, be: Backend = be) -> None:
                if m.topic.endswith("/online") and m.payload.get("online"):  # off paho's thread
                    threading.Thread(
                        target=be.command, args=("trigger",), kwargs={"what": "status"}
                    ).start()

            be.listeners.append(on_birth)
            be.connect()
            try:
                pile.start()
                be.wait(lambda m: m.topic.endswith("/replies"), timeout=5)
            finally:
                pile.stop()
                be.close()


@pytest.mark.wall_clock("the link's own reconnect backoff against a broker that hangs up")
def test_a_broker_that_closes_before_connack_is_one_line_not_silence(tmp_path: Path) -> None:
    # As RabbitMQ 3.10 does to an MQTT 5 CONNECT, and NATS to a Last Will topic with a '.'.
    server = HangingUp()
    pile = PileProcess(tmp_path, server.port).start()
    try:
        pile.wait_until(lambda _: "closed the connection before accepting it" in pile.logs())
        assert server.accepted  # it was the hang-up that was said
        time.sleep(3)  # several more attempts on the backoff
    finally:
        pile.stop()
        server.close()
    lines = [line for line in pile.logs().splitlines() if "before accepting it" in line]
    assert len(lines) == 1, lines  # once, then at most once a minute
    # "auto" tried MQTT 3.1.1 after the first hang-up, and that was not the cause either.
    assert "hung up on MQTT 5: trying MQTT 3.1.1" in pile.logs()
    assert "127.0.0.1:" in lines[0] and "MQTT 3.1.1" in lines[0]
    assert "piles/PILE-T1/online" in lines[0]


def test_auto_falls_back_to_mqtt_3_1_1_on_a_broker_that_hangs_up_on_mqtt_5(
    tmp_path: Path,
) -> None:
    # The default config, against a broker that speaks 3.1.1 alone (as RabbitMQ 3.10).
    with Broker(tmp_path / "broker") as broker:
        proxy = Proxy(broker.port, mqtt_3_1_1_only=True)
        pile = PileProcess(tmp_path, proxy.port)
        be = Backend(broker.port, pile.pile_id).connect()
        try:
            pile.start()
            be.online(timeout=15)
            assert be.ask("reserve", **reserve_fields("R1"))["status"] == "Accepted"
            log = pile.logs()
            assert proxy.refused_mqtt5 == 1, "MQTT 5 offered once, then 3.1.1 for good"
            assert log.count("backend link speaks MQTT 3.1.1") == 1, log
            assert "p2," in (broker.workdir / "mosquitto.log").read_text()  # 3.1.1: "p2"
        finally:
            be.close()
            pile.stop()
            proxy.close()


def test_auto_speaks_mqtt_5_where_the_broker_does(rig: Any) -> None:
    rig.backend.ask("reserve", **reserve_fields("R1"))
    assert "backend link speaks MQTT 5 with 127.0.0.1:" in rig.pile.logs()


@pytest.mark.wall_clock("a real broker reloads its ACL; the pile's link drops and comes back")
def test_events_the_broker_refuses_stay_journaled_until_it_takes_them(tmp_path: Path) -> None:
    # An ACL that lets the pile publish everything but its events: mosquitto answers each
    # event's PUBACK with "Not authorized" (MQTT 5). A refused event is not a delivered one.
    acl = tmp_path / "acl"
    own = "piles/PILE-T1"
    acl.write_text(
        f"topic readwrite {own}/online\ntopic readwrite {own}/connectors/#\n"
        f"topic readwrite {own}/replies\ntopic readwrite {own}/cmd/#\ntopic read {own}/events\n"
    )
    broker = Broker(tmp_path / "broker", options=f"allow_anonymous true\nacl_file {acl}\n")
    with broker:
        proxy = Proxy(broker.port)
        pile = PileProcess(tmp_path, proxy.port).start()
        be = Backend(broker.port, pile.pile_id).connect()
        try:
            be.online()
            pile.sim("plug", 1)
            assert be.ask("start", connector=1, id_token="tester")["status"] == "Accepted"
            pile.wait_until(
                lambda _: "the broker refused event seq 1: Not authorized" in pile.logs()
            )
            pile.sim("clock", "+600")
            pile.sim("stop-button", 1)
            pile.wait_until(lambda r: r["connectors"][0]["state"] == "awaiting_payment")
            assert pile.status()["backend"]["outbox"] >= 4  # started ... payment.requested
            assert be.events() == []

            acl.write_text("topic readwrite piles/#\n")  # mended, and reloaded
            assert broker.process is not None
            broker.process.send_signal(signal.SIGHUP)
            proxy.set("down")  # the pile's next connect sends what was refused
            pile.wait_until(lambda r: not r["backend"]["connected"])
            proxy.set("up")
            stopped = be.event("transaction.stopped", timeout=30)["data"]
            pile.wait_until(lambda r: r["backend"]["outbox"] == 0, timeout=30)
        finally:
            be.close()
            pile.stop()
            proxy.close()
    seqs = list(dict.fromkeys(e["seq"] for e in be.events()))
    assert seqs == list(range(1, len(seqs) + 1))
    assert stopped["reason"] == "Local" and stopped["energy_wh"] > 0
    assert pile.logs().count("the broker refused") == 1  # then at most once a minute
