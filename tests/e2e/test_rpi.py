"""The daemon with `hal.driver = "rpi"`, end to end: a subprocess with the fake RPi.GPIO,
spidev and evdev first on its path (tests/fakes), a temporary folder for /sys/class/pwm, an
SDM630 served by pymodbus over Modbus TCP and a real mosquitto. The test moves the world
around the board (the vehicle on the pilot, the keypad, the buttons, a welded contactor) and
reads the board's outputs; the backend sees only MQTT."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hal.pilot import duty_for, duty_ns
from rig.backend import in_minutes
from rig.board import CONNECTOR, ESTOP, HIGH, LOCK, LOW, RCD, RELAY, FakeBoard, hal_section
from rig.broker import free_port
from rig.meter import ServedMeter
from rig.pile import PileProcess, pile_controller, pilectl

pytestmark = pytest.mark.wall_clock("the pile runs on the wall clock with real hardware")


@pytest.fixture
def meter() -> Iterator[tuple[ServedMeter, str]]:
    served = ServedMeter("sdm630")
    port = served.serve_tcp()
    yield (
        served,
        (f'meter = {{ model = "sdm630", transport = "tcp", host = "127.0.0.1", port = {port} }}'),
    )
    served.stop()


def options(board: FakeBoard, meter_line: str) -> dict[str, Any]:
    return {
        "connectors": 1,
        "hal": hal_section(board.pwm_root),
        "meters": {1: meter_line},
        "connector_extra": {1: CONNECTOR},
        "env": board.env(),
    }


@pytest.fixture
def pi(tmp_path: Path, make_rig: Any, meter: Any) -> Iterator[tuple[Any, FakeBoard, ServedMeter]]:
    board = FakeBoard(tmp_path / "board")
    rig = make_rig(**options(board, meter[1]))
    yield rig, board, meter[0]
    board.close()


def until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


def charging(rig: Any, board: FakeBoard, id_token: str) -> str:
    board.vehicle("C")
    rig.backend.ask("start", connector=1, id_token=id_token)
    tx: str = rig.backend.event("transaction.started")["data"]["transaction_id"]
    until(lambda: board.level(RELAY) == HIGH, "charging")
    return tx


def drew(rig: Any, served: ServedMeter, wh: int) -> None:
    """The meter counts `wh` more (values the SDM630's float32 kWh register holds to the Wh)."""
    served.energy_wh = 1_000_000.0 + wh
    rig.pile.wait_until(lambda r: r["connectors"][0]["energy_wh"] == wh)


def test_reserve_type_the_code_charge_stop_pay_unlock(pi: Any) -> None:
    rig, board, served = pi
    be, pile = rig.backend, rig.pile
    be.ask(
        "reserve",
        connector=1,
        reservation_id="R1",
        code="2468",
        id_token="alice",
        expires_at=in_minutes(30),
    )
    be.status(1, state="reserved")
    board.vehicle("B")
    be.status(1, state="authenticating")
    board.type_code("2468")
    tx = be.event("transaction.started", reservation_id="R1")["data"]["transaction_id"]
    assert board.duty_ns() == duty_ns(duty_for(32))  # the pilot offers the connector's 32 A
    assert board.level(RELAY) == LOW  # B: the vehicle has not asked for power yet
    board.vehicle("C")
    until(lambda: board.level(RELAY) == HIGH, "the contactor closes in C")
    be.status(1, state="charging", transaction_id=tx)
    served.power_w, served.energy_wh = 7000.0, 1_002_500.0
    pile.wait_until(lambda r: r["connectors"][0]["energy_wh"] == 2500)
    board.press_stop_button()
    stopped = be.event("transaction.stopped", transaction_id=tx)["data"]
    assert (stopped["reason"], stopped["energy_wh"]) == ("Local", 2500)
    assert board.level(RELAY) == LOW
    assert board.duty_ns() == 1_000_000  # constant +12 V: no current offered
    amount = be.event("payment.requested", transaction_id=tx)["data"]["amount"]
    assert pile.status()["connectors"][0]["cable_locked"]
    be.ask("payment", transaction_id=tx, status="paid", amount=amount)
    be.event("cable.unlocked", transaction_id=tx)
    board.vehicle("A")
    be.status(1, state="idle", status="Available")
    assert "2468" not in pile.logs()


def test_an_estop_while_charging_opens_the_relay_and_bills(pi: Any) -> None:
    rig, board, served = pi
    be = rig.backend
    tx = charging(rig, board, "bob")
    drew(rig, served, 700)
    board.drive(ESTOP, LOW)  # the normally closed loop opens
    assert board.level(RELAY) == LOW  # opened in the GPIO callback, before anything else
    be.event("fault.raised", code="EmergencyStop")
    stopped = be.event("transaction.stopped", transaction_id=tx)["data"]
    assert (stopped["reason"], stopped["energy_wh"]) == ("EmergencyStop", 700)


def test_a_welded_contactor_keeps_the_cable_locked_once_paid(pi: Any) -> None:
    rig, board, served = pi
    be = rig.backend
    tx = charging(rig, board, "carol")
    drew(rig, served, 250)
    board.weld()
    be.ask("stop", transaction_id=tx)
    be.event("fault.raised", code="RelayWelded")
    amount = be.event("payment.requested", transaction_id=tx)["data"]["amount"]
    be.ask("payment", transaction_id=tx, status="paid", amount=amount)
    be.event("payment.settled", transaction_id=tx)
    assert rig.pile.status()["connectors"][0]["cable_locked"]


def test_a_relay_reading_closed_at_boot_is_welded_before_anything(
    tmp_path: Path, make_rig: Any, meter: Any
) -> None:
    board = FakeBoard(tmp_path / "board", levels={"6": HIGH})
    rig = make_rig(**options(board, meter[1]))
    # Raised before the backend's rig subscribed to events: the retained status shows it.
    assert rig.backend.status(1, state="faulted")["fault"]["code"] == "RelayWelded"
    board.vehicle("C")
    reply = rig.backend.ask("start", connector=1, id_token="dave")
    assert reply["status"] == "Rejected"
    assert board.level(RELAY) == LOW


@pytest.mark.parametrize(
    ("start", "line"),
    [
        ({"busy": [13]}, "connectors[0].pins.lock: BCM 13 cannot be claimed: GPIO busy"),
        (
            {"spi": []},
            "connectors[0].pilot.spi_device: /dev/spidev0.0: no such SPI device "
            "(is dtparam=spi=on in config.txt?)",
        ),
        (
            {"no_pwm": True},
            "connectors[0].pilot.pwm_chip: {pwm}/pwmchip0: no such PWM chip "
            "(is the pwm overlay enabled?)",
        ),
    ],
)
def test_a_device_that_cannot_be_had_is_one_line_and_no_start(
    tmp_path: Path, meter: Any, start: dict[str, Any], line: str
) -> None:
    board = FakeBoard(tmp_path / "board", **{k: v for k, v in start.items() if k != "no_pwm"})
    if start.get("no_pwm"):
        shutil.rmtree(board.pwm_root / "pwmchip0")
    settings = options(board, meter[1])
    env = settings.pop("env")
    pile = PileProcess(tmp_path, free_port(), **settings)
    done = pile_controller("--config", str(pile.config), env=env)
    assert (done.returncode, done.stderr.strip()) == (
        1,
        "pile-controller: " + line.format(pwm=board.pwm_root),
    )


def test_relay_test_times_the_mirror_contact_and_is_refused_with_a_vehicle(pi: Any) -> None:
    rig, board, _ = pi
    socket = str(rig.pile.socket)
    done = pilectl("--socket", socket, "relay-test", "1")
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"relay 1: ok \(closed in [\d.]+ ms, opened in [\d.]+ ms\)\n", done.stdout)
    assert board.level(RELAY) == LOW
    board.vehicle("B")
    rig.backend.status(1, state="authenticating")
    done = pilectl("--socket", socket, "relay-test", "1")
    assert (done.returncode, done.stderr) == (
        1,
        "pilectl: relay test refused: a vehicle is connected\n",
    )
    done = pilectl("--socket", socket, "sim", "plug", "1")
    assert done.returncode == 1 and "the hardware is real" in done.stderr


def test_selftest_passes_a_healthy_pile_and_a_failed_check_latches_nothing(pi: Any) -> None:
    rig, board, _ = pi
    socket = str(rig.pile.socket)
    done = pilectl("--socket", socket, "selftest", "--json")
    report = json.loads(done.stdout)
    assert report["ok"] and done.returncode == 0, report
    names = [c["name"] for c in report["checks"]]
    assert names == ["relay 1", "lock 1", "pilot 1", "meter 1", "broker", "display", "disk"]
    board.ask("unwire", out=RELAY, when=HIGH)  # the contactor's coil is dead: it never closes
    done = pilectl("--socket", socket, "selftest")
    assert done.returncode == 1
    assert "relay 1: FAILED (the feedback did not show closed within 200 ms)" in done.stdout
    assert "lock 1: ok (locked in" in done.stdout
    assert rig.pile.status()["connectors"][0]["fault"] is None
    assert rig.backend.ask("start", connector=1, id_token="eve")["status"] == "Accepted"


def test_an_rcd_trip_while_charging_opens_the_relay_and_bills(pi: Any) -> None:
    rig, board, served = pi
    tx = charging(rig, board, "frank")
    drew(rig, served, 500)
    board.drive(RCD, HIGH)
    assert board.level(RELAY) == LOW
    rig.backend.event("fault.raised", code="RcdTrip")
    stopped = rig.backend.event("transaction.stopped", transaction_id=tx)["data"]
    assert (stopped["reason"], stopped["energy_wh"]) == ("Other", 500)


def test_a_pilot_short_while_charging_opens_the_relay_as_a_pilot_fault(pi: Any) -> None:
    rig, board, _ = pi
    tx = charging(rig, board, "grace")
    board.vehicle("E")  # the pilot shorted to PE: no high level left
    until(lambda: board.level(RELAY) == LOW, "the sampler's reading opens the relay")
    rig.backend.event("fault.raised", code="PilotFault")
    assert rig.backend.event("transaction.stopped", transaction_id=tx)["data"]["reason"] == "Other"


def test_a_jammed_lock_is_a_lock_failure_and_the_relay_never_closes(pi: Any) -> None:
    rig, board, _ = pi
    board.ask("unwire", out=LOCK, when=HIGH)  # the actuator does not move: never locked
    board.vehicle("C")
    assert rig.backend.ask("start", connector=1, id_token="heidi")["status"] == "Accepted"
    rig.backend.event("fault.raised", code="CableLockFailure")
    assert board.level(RELAY) == LOW
    assert not any(e["type"] == "transaction.started" for e in rig.backend.events())


def test_the_cable_s_pp_resistor_sets_the_offer_and_an_open_one_keeps_the_pilot_off(
    tmp_path: Path, make_rig: Any, meter: Any
) -> None:
    board = FakeBoard(tmp_path / "board")
    setup = options(board, meter[1])
    setup["connector_extra"] = {
        1: CONNECTOR.replace("adc_channel = 0 }", "adc_channel = 0, pp_adc_channel = 1 }")
    }
    rig = make_rig(**setup)
    pile = rig.pile
    try:
        board.cable(680.0)  # a 20 A cable (IEC 61851-1's 680 ohm)
        board.vehicle("B")
        rig.backend.ask("start", connector=1, id_token="pp")
        pile.wait_until(lambda r: r["connectors"][0]["pp_a"] == 20)
        until(lambda: board.duty_ns() == duty_ns(duty_for(20)), "the pilot offers the cable's 20 A")
        board.cable(1500.0 * 1.03)  # 13 A, at the edge of its tolerance
        until(lambda: board.duty_ns() == duty_ns(duty_for(13)), "13 A")
        for no_cable in (None, 50.0, 5000.0):  # open, a short, no cable's resistor
            board.cable(no_cable)
            until(lambda: board.duty_ns() == 1_000_000, f"no offer with PP {no_cable}")
            report = pile.status()["connectors"][0]
            assert report["pp_a"] is None and report["current_limit_a"] is None
            board.cable(220.0)
            until(lambda: board.duty_ns() == duty_ns(duty_for(32)), "32 A again")
    finally:
        board.close()


def test_a_pp_channel_shared_with_a_pilot_is_one_line_naming_the_key(tmp_path: Path) -> None:
    board = FakeBoard(tmp_path / "board")
    shared = CONNECTOR.replace("adc_channel = 0 }", "adc_channel = 0, pp_adc_channel = 0 }")
    pile = PileProcess(
        tmp_path,
        free_port(),
        connectors=1,
        hal=hal_section(board.pwm_root),
        meters={1: 'meter = { model = "sdm630", transport = "tcp", host = "127.0.0.1", port = 1 }'},
        connector_extra={1: shared},
    )
    run = pile_controller("check-config", str(pile.config))
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "connectors[0].pilot.pp_adc_channel: channel 0 of SPI 0.0 is used twice "
        "(also connectors[0].pilot.adc_channel)"
    )
