"""End-to-end fixtures: a real mosquitto on a free port, the daemon as a subprocess with a
temporary config, and a scripted backend. Everything the pile publishes during a test is
checked against the JSON Schemas when the test ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pile_controller.backend.mqtt.schemas import first_error
from rig.backend import Backend
from rig.broker import BROKERS, Broker
from rig.csms import Csms
from rig.csms201 import Csms201
from rig.pile import PileProcess
from tests.e2e.ocpp_rig import ocpp_options


def schema_for(topic: str) -> str | None:
    for suffix, name in (
        ("/online", "online"),
        ("/status", "status"),
        ("/events", "event"),
        ("/replies", "reply"),
    ):
        if topic.endswith(suffix):
            return name
    return None


class Rig:
    def __init__(
        self,
        workdir: Path,
        env: dict[str, str] | None = None,
        broker: str | Broker = "mosquitto",
        **options: Any,
    ):
        """`broker`: which kind to start for this rig, or one already running that outlives
        it (a slow-starting broker shared by a module's tests)."""
        self.workdir = workdir
        self.own_broker = isinstance(broker, str)
        self.broker = (
            BROKERS[broker](workdir / "broker").start() if isinstance(broker, str) else broker
        )
        self.pile = PileProcess(workdir, self.broker.port, **options).start(env=env)
        self.backend = Backend(
            self.broker.port, self.pile.pile_id, mqtt_version=self.broker.mqtt_version
        ).connect()
        self.backend.online()

    def close(self) -> None:
        self.backend.close()
        self.pile.stop()
        if self.own_broker:
            self.broker.stop()

    def check_schemas(self) -> None:
        for m in self.backend.snapshot():
            name = schema_for(m.topic)
            if name is not None and "/cmd/" not in m.topic:
                problem = first_error(name, m.payload)
                assert problem is None, f"{m.topic} breaks {name}.json: {problem}\n{m.payload}"


@pytest.fixture
def make_rig(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    rigs: list[Rig] = []

    def make(**options: Any) -> Rig:
        rig = Rig(tmp_path / f"rig{len(rigs)}", **options)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        try:
            rig.check_schemas()
        finally:
            logs = rig.pile.logs()
            rig.close()
            if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
                print(f"--- daemon log ---\n{logs}")


@pytest.fixture
def rig(make_rig: Any) -> Rig:
    return make_rig()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def csms() -> Iterator[Csms]:
    """The mobilityhouse `ocpp` library as a CSMS, on loopback."""
    server = Csms().start()
    yield server
    server.stop()


@pytest.fixture
def csms201() -> Iterator[Csms201]:
    """The mobilityhouse `ocpp` library's v201 as a CSMS, on loopback."""
    server = Csms201().start()
    yield server
    server.stop()


def booted(
    tmp_path: Path, csms: Csms, request: pytest.FixtureRequest, **options: Any
) -> Iterator[PileProcess]:
    """A two-connector pile connected to `csms`; its log shown if the test failed."""
    pile = PileProcess(tmp_path, 1, connectors=2, **ocpp_options(csms.url, **options)).start()
    csms.wait_connected()
    yield pile
    logs = pile.logs()
    pile.stop()
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        print(f"--- daemon log ---\n{logs}")


@pytest.fixture
def ocpp201_pile(
    tmp_path: Path, csms201: Csms201, request: pytest.FixtureRequest
) -> Iterator[PileProcess]:
    """A pile speaking OCPP 2.0.1 to `csms201`, booted, its screens as PNG files
    (`screen-N.png` in its state folder)."""
    yield from booted(tmp_path, csms201, request, protocol="ocpp2.0.1", display="png")


@pytest.fixture
def ocpp_pile(tmp_path: Path, csms: Csms, request: pytest.FixtureRequest) -> Iterator[PileProcess]:
    """A pile speaking OCPP 1.6J to `csms`, booted."""
    yield from booted(tmp_path, csms, request)
