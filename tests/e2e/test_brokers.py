"""The pile on the brokers operators run besides mosquitto, each speaking only MQTT 3.1.1: NATS
(MQTT over JetStream) and RabbitMQ (rabbitmq_mqtt). The pile has the default config throughout
(`mqtt_version = "auto"`), so each test also shows the fallback from MQTT 5 working.

Each broker is started once for the module (RabbitMQ's Erlang node takes 10-15 s to boot); each
test has a pile of its own, with an id of its own."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.broker import BROKERS, Broker
from rig.demo import walk
from rig.pile import PileProcess, pile_controller
from tests.e2e.conftest import Rig
from tests.e2e.test_link import broker_restart_loses_nothing, duplicate_is_done_once

pytestmark = [
    pytest.mark.wall_clock("real brokers start, restart and reconnect on their own time"),
    # One worker runs the module, so each broker (RabbitMQ's boot is 10-15 s) starts once.
    pytest.mark.xdist_group("brokers"),
]


@pytest.fixture(scope="module", params=["nats", "rabbitmq"])
def broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Broker]:
    kind = str(request.param)
    with BROKERS[kind](tmp_path_factory.mktemp(kind)) as running:
        yield running


@pytest.fixture
def on(broker: Broker, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    """A pile and a backend on the module's broker."""
    pile_id = f"PILE-{request.node.name.split('[')[0][-12:]}"  # one per test: no shared state
    rig = Rig(tmp_path, broker=broker, pile_id=pile_id)
    try:
        yield rig
        rig.check_schemas()
    finally:
        rig.close()


def test_the_whole_flow_on_a_3_1_1_broker_with_the_default_config(on: Rig) -> None:
    walk(on.backend, on.pile)
    logs = on.pile.logs()
    assert f"backend link speaks MQTT 3.1.1 with 127.0.0.1:{on.broker.port}" in logs
    first_seen = list(dict.fromkeys(e["seq"] for e in on.backend.events()))
    assert first_seen == list(range(1, len(first_seen) + 1))


def test_a_duplicate_command_id_is_done_once_and_answered_alike(on: Rig) -> None:
    duplicate_is_done_once(on)


def test_the_last_will_says_offline_when_the_daemon_is_killed(on: Rig) -> None:
    on.pile.stop(signal.SIGKILL)
    assert on.backend.online(online=False, timeout=30)["pile"] == on.pile.pile_id


def test_events_made_while_the_broker_restarts_arrive_in_order(on: Rig) -> None:
    broker_restart_loses_nothing(on)


def test_a_dot_in_the_pile_id_is_warned_of_and_named_in_the_log(
    broker: Broker, tmp_path: Path
) -> None:
    """NATS maps `.` to a subject separator and refuses such topics; RabbitMQ turns it into
    `/`. Either way the operator is told, by check-config and by the daemon's log."""
    pile = PileProcess(tmp_path, broker.port, pile_id="PILE.7")
    checked = pile_controller("check-config", str(pile.config))
    assert checked.returncode == 0 and "pile.id" in checked.stderr
    pile.start()
    try:
        if broker.name == "nats":
            wanted = "cannot carry the Last Will's topic 'piles/PILE.7/online'"
            pile.wait_until(lambda _: wanted in pile.logs())
    finally:
        pile.stop()
