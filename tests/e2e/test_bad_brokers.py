"""Brokers that fail without saying so: one that takes the connection and then says nothing,
one that answers what is not MQTT. The pile is charging when its broker turns bad. Each must
end in one log line and retries with backoff, while the pile goes on charging, journaling and
opening its relay at once when it must."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rig.backend import Backend
from rig.broker import Broker
from rig.pile import PileProcess
from rig.proxy import Proxy

pytestmark = pytest.mark.wall_clock("a broker's silence is waited out by the daemon's own loop")


@dataclass
class Setup:
    broker: Broker
    proxy: Proxy
    pile: PileProcess
    backend: Backend


@pytest.fixture
def through_proxy(tmp_path: Path) -> Iterator[Setup]:
    with Broker(tmp_path / "broker") as broker:
        proxy = Proxy(broker.port)
        pile = PileProcess(tmp_path, proxy.port, backend_extra="connect_timeout_s = 1")
        backend = Backend(broker.port, pile.pile_id).connect()
        try:
            pile.start()
            backend.online()
            yield Setup(broker, proxy, pile, backend)
        finally:
            backend.close()
            pile.stop()
            proxy.close()


def lines_with(text: str, pile: PileProcess) -> list[str]:
    return [line for line in pile.logs().splitlines() if text in line]


def charging_through_a_bad_broker(s: Setup, mode: str, said: str) -> None:
    """Charges, turns the broker bad, and shows that the pile says so once, keeps retrying,
    and still stops on an e-stop at once and bills it once the broker is back."""
    pile, be = s.pile, s.backend
    pile.sim("plug", 1)
    be.ask("start", connector=1, id_token="tester")
    tx = be.event("transaction.started")["data"]["transaction_id"]
    be.status(1, state="charging")

    s.proxy.set(mode)
    deadline = time.monotonic() + 30
    while not lines_with(said, pile) or s.proxy.bad_answers < 3:  # retried, on its backoff
        assert time.monotonic() < deadline, (s.proxy.bad_answers, pile.logs())
        time.sleep(0.05)
    assert not pile.status()["backend"]["connected"]

    pile.sim("clock", "+600")
    pile.sim("estop", "on")  # answered at once: nothing waits on the broker
    report = pile.status()
    assert not report["connectors"][0]["relay_closed"]
    assert report["connectors"][0]["state"] == "faulted"
    assert report["backend"]["outbox"] >= 2  # stopped, fault.raised: journaled meanwhile

    assert len(lines_with(said, pile)) == 1, pile.logs()  # then at most once a minute
    s.proxy.set("up")
    stopped = be.event("transaction.stopped", transaction_id=tx, timeout=30)["data"]
    assert stopped["reason"] == "EmergencyStop" and stopped["energy_wh"] > 0
    first_seen = list(dict.fromkeys(e["seq"] for e in be.events()))
    assert first_seen == list(range(1, len(first_seen) + 1))
    assert pile.stop(signal.SIGTERM) == 0  # and never crashed meanwhile


def test_a_broker_that_says_nothing_after_accepting(through_proxy: Setup) -> None:
    charging_through_a_bad_broker(
        through_proxy, "silent", "accepted the connection but did not answer CONNECT within 1 s"
    )


def test_a_broker_that_answers_garbage(through_proxy: Setup) -> None:
    charging_through_a_bad_broker(
        through_proxy, "garbage", "answered CONNECT with what is not MQTT"
    )
