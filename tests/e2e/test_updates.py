"""Updates that cannot brick a pile (CONTRACT 12), over MQTT, in a scratch root laid out as
scripts/install does, with systemd's part played by rig/releases.py's Supervisor (release-check
before every start, Restart=always) and the releases served by a local HTTP server.

Each release is installed as on a Pi (a virtualenv, pip from the wheelhouse, no index); its
wheelhouse holds the project's wheel only, the dependencies coming from the test's virtualenv
(rig/releases.py says why)."""

from __future__ import annotations

import base64
import os
import random
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from ocpp.v16 import call

from pile_controller.fleet.releases import Releases
from rig import releases as rel
from rig.backend import Backend
from rig.broker import BROKERS, Broker
from rig.csms import Csms
from rig.pile import PileProcess, pilectl
from tests.e2e.ocpp_rig import ocpp_options

BASE = "1.0.0"


@dataclass
class Built:
    workdir: Path
    base_wheel: Path
    deps: Path
    base_root: Path  # scripts/install's layout with release BASE, copied for each test


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    workdir = tmp_path_factory.mktemp("releases")
    base_wheel, deps = rel.project_wheel(workdir), rel.deps(workdir / "deps")
    wheel = rel.variant(base_wheel, BASE, workdir / "base")
    archive = rel.wheelhouse([wheel], workdir / "base.tar.gz")[0]
    rel.first_install(workdir / "opt", archive, deps)
    return Built(workdir, base_wheel, deps, workdir / "opt")


class Fleet:
    """One pile on the release BASE, its backend, and the releases it may be offered."""

    def __init__(self, tmp: Path, built: Built, confirm_s: int = 120, csms: Csms | None = None):
        """`csms`: the pile speaks OCPP 1.6J to it instead of MQTT to a broker of its own."""
        self.tmp, self.built = tmp, built
        self.files = rel.Served(tmp / "served")
        update = f'\n[update]\npublic_key = "{rel.OPERATOR_PUBLIC}"\nconfirm_s = {confirm_s}\n'
        self.broker: Broker | None = None
        if csms is None:
            self.broker = BROKERS["mosquitto"](tmp / "broker").start()
            self.pile = PileProcess(tmp / "pile", self.broker.port, payment_extra=update)
        else:
            options = ocpp_options(csms.url, payment_extra=update)
            self.pile = PileProcess(tmp / "pile", 1, connectors=1, **options)
        self.root = tmp / "opt"
        # A virtualenv runs where it is copied when started as `bin/python -m` (its scripts'
        # first lines name the old place; none is used): one install for the module.
        shutil.copytree(built.base_root, self.root, symlinks=True)
        self.systemd = rel.Supervisor(self.pile, self.root, built.deps).start()
        self.systemd.running(BASE)
        if self.broker is not None:
            self.backend = Backend(self.broker.port, self.pile.pile_id).connect()
            self.backend.online()

    def release(self, version: str, defect: dict[str, str] | None = None) -> tuple[Path, str, str]:
        """The archive of release `version` on the server, its sha256 and signature."""
        wheel = rel.variant(self.built.base_wheel, version, self.tmp / "wheels" / version, defect)
        return rel.wheelhouse([wheel], self.files.folder / f"pile-controller-{version}.tar.gz")

    def offer(self, version: str, defect: dict[str, str] | None = None, **fields: Any) -> Any:
        archive, sha, signature = self.release(version, defect)
        order = {"url": self.files.url + archive.name, "sha256": sha, "signature": signature}
        return self.backend.ask("update", **(order | fields))

    def statuses(self) -> list[tuple[str, str | None]]:
        return [
            (e["data"]["status"], e["data"]["version"])
            for e in self.backend.events()
            if e["type"] == "firmware.status"
        ]

    def close(self) -> None:
        self.systemd.stop()
        self.files.stop()
        if self.broker is not None:
            self.backend.close()
            self.broker.stop()


@pytest.fixture
def fleet(tmp_path: Path, built: Built) -> Iterator[Fleet]:
    f = Fleet(tmp_path, built)
    yield f
    f.close()


@pytest.fixture
def ocpp_fleet(tmp_path: Path, built: Built, csms: Csms) -> Iterator[Fleet]:
    f = Fleet(tmp_path, built, csms=csms)
    yield f
    f.close()


def test_a_signed_release_is_installed_beside_switched_to_and_confirmed(fleet: Fleet) -> None:
    be = fleet.backend
    assert fleet.offer("1.1.0")["status"] == "Accepted"
    be.event("firmware.status", status="Installed", version="1.1.0", timeout=60)
    assert fleet.statuses() == [
        ("Downloading", None),
        ("Downloaded", None),
        ("Installing", "1.1.0"),
        ("Installed", "1.1.0"),  # said by the new release, once online
    ]
    fleet.systemd.running("1.1.0")
    births = [m.payload for m in be.snapshot() if m.topic.endswith("/online")]
    assert [b["firmware"] for b in births if b["online"]] == [BASE, "1.1.0"]
    releases = Releases(fleet.root)
    assert (releases.current(), releases.on_trial()) == ("1.1.0", None)
    assert sorted(p.name for p in (fleet.root / "releases").iterdir()) == [BASE, "1.1.0"]
    assert fleet.systemd.started == [BASE, "1.1.0"]  # one restart, into the new release
    assert "release 1.1.0 is online: confirmed" in fleet.pile.logs()


def test_a_wrong_hash_a_foreign_signature_or_a_missing_dependency_change_nothing(
    fleet: Fleet,
) -> None:
    be = fleet.backend
    foreign = nacl.signing.SigningKey(bytes(32))
    archive, sha, signature = fleet.release("1.1.0")
    forged = base64.b64encode(foreign.sign(archive.read_bytes()).signature).decode()
    order = {"url": fleet.files.url + archive.name, "sha256": sha, "signature": signature}
    cases = [
        ({"sha256": "0" * 64}, "InstallVerificationFailed", "its sha256 is not the one given"),
        ({"signature": forged}, "InvalidSignature", "its signature is not the operator's"),
    ]
    for fields, status, reason in cases:
        mark = be.mark()
        assert be.ask("update", **(order | fields))["status"] == "Accepted"
        be.event("firmware.status", since=mark, status=status, reason=reason, timeout=20)
    # A wheelhouse without a wheel the release needs: pip, told to use no index, fails.
    mark = be.mark()
    metadata = "Metadata-Version: 2.1\nName: pile-controller\nVersion: 1.2.0\n"
    needs = {"pile_controller-1.2.0.dist-info/METADATA": metadata + "Requires-Dist: no-such-pkg\n"}
    assert fleet.offer("1.2.0", needs)["status"] == "Accepted"
    failed = be.event("firmware.status", since=mark, status="InstallationFailed", timeout=30)
    assert failed["data"]["reason"] == (
        "ERROR: No matching distribution found for no-such-pkg (from pile-controller)"
    )
    assert failed["data"]["version"] == "1.2.0"
    # A release whose daemon does not import: found at install, before any switch.
    mark = be.mark()
    broken = {"pile_controller/daemon.py": "raise ImportError('a broken release')\n"}
    assert fleet.offer("1.3.0", broken)["status"] == "Accepted"
    failed = be.event("firmware.status", since=mark, status="InstallationFailed", timeout=30)
    assert failed["data"]["reason"] == "ImportError: a broken release"
    assert Releases(fleet.root).current() == BASE and fleet.systemd.started == [BASE]
    assert sorted(p.name for p in (fleet.root / "releases").iterdir()) == [BASE]
    assert fleet.pile.logs().count("update from") == 4  # one line each


@pytest.mark.wall_clock("a stop is timed against a download that hangs in real time")
def test_a_server_that_stalls_holds_neither_a_second_update_nor_a_stop(fleet: Fleet) -> None:
    be = fleet.backend
    _, sha, signature = fleet.release("1.1.0")
    with socket.socket() as server:  # accepts, then never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/release.tar.gz"
        assert be.ask("update", url=url, sha256=sha, signature=signature)["status"] == "Accepted"
        be.event("firmware.status", status="Downloading")
        busy = be.ask("update", url=url, sha256=sha, signature=signature)
        assert (busy["status"], busy["reason"]) == ("Rejected", "Busy")
        assert fleet.pile.status()["connectors"][0]["state"] == "idle"  # the pile goes on
        started = time.monotonic()
        fleet.systemd.stop()
        assert time.monotonic() - started < 5, "the stop waited for the download"


def test_a_release_that_fails_at_import_is_switched_back_and_reported(fleet: Fleet) -> None:
    broken = {"pile_controller/__main__.py": "raise ImportError('a broken release')\n"}
    assert fleet.offer("1.2.0", broken)["status"] == "Accepted"
    failed = fleet.backend.event(
        "firmware.status", status="InstallationFailed", version="1.2.0", timeout=60
    )
    assert failed["data"]["reason"] == "it did not start (3 tries)"
    fleet.systemd.running(BASE)
    assert fleet.systemd.started == [BASE, "1.2.0", "1.2.0", "1.2.0", BASE]
    assert "release-check: release 1.2.0: it did not start (3 tries); back to 1.0.0" in (
        fleet.pile.logs()
    )


def test_a_release_that_never_reaches_its_backend_is_switched_back(
    tmp_path: Path, built: Built
) -> None:
    fleet = Fleet(tmp_path, built, confirm_s=5)
    try:
        # A defect that keeps the link from its broker, and nothing else.
        link = "pile_controller/backend/mqtt/connection.py"
        source = (Path(__file__).parents[2] / link).read_text()
        assert "where = (self.settings.host or " in source
        deaf = source.replace("where = (self.settings.host or ", 'where = ("192.0.2.1" or ')
        assert fleet.offer("1.3.0", {link: deaf})["status"] == "Accepted"
        failed = fleet.backend.event(
            "firmware.status", status="InstallationFailed", version="1.3.0", timeout=60
        )
        assert failed["data"]["reason"] == "it did not come online within update.confirm_s"
        fleet.systemd.running(BASE)
        assert fleet.systemd.started == [BASE, "1.3.0", BASE]
        assert ("Installed", "1.3.0") not in fleet.statuses()
    finally:
        fleet.close()


def test_an_update_asked_for_during_a_session_waits_for_its_end(fleet: Fleet) -> None:
    be, pile = fleet.backend, fleet.pile
    pile.sim("plug", 1)
    be.ask("start", connector=1, id_token="driver")
    started = be.event("transaction.started")["data"]["transaction_id"]
    assert fleet.offer("1.1.0")["status"] == "Accepted"
    be.event("firmware.status", status="Installing", version="1.1.0", timeout=30)
    assert fleet.offer("1.1.1")["status"] == "Rejected"  # Busy: one update at a time
    time.sleep(3)  # installed meanwhile; still charging on the old release
    assert pile.status()["firmware"] == BASE and fleet.systemd.started == [BASE]
    assert pile.status()["connectors"][0]["state"] == "charging"
    be.ask("stop", transaction_id=started)
    stopped = be.event("transaction.stopped", transaction_id=started)["data"]
    payment = be.event("payment.requested", transaction_id=started)["data"]
    assert pile.status()["firmware"] == BASE  # awaiting payment is still the session
    be.ask("payment", transaction_id=started, status="paid", amount=payment["amount"])
    be.event("firmware.status", status="Installed", version="1.1.0", timeout=60)
    assert fleet.systemd.started == [BASE, "1.1.0"]
    stops = [e for e in be.events() if e["type"] == "transaction.stopped"]
    assert [e["data"]["transaction_id"] for e in stops] == [started]  # billed once
    assert stopped["reason"] == "Remote"


def test_pilectl_update_installs_a_file_with_its_signature_beside_it(fleet: Fleet) -> None:
    archive, _, signature = fleet.release("1.1.0")
    unsigned = archive.with_name("unsigned.tar.gz")
    unsigned.write_bytes(archive.read_bytes())
    done = pilectl("--socket", str(fleet.pile.socket), "update", str(unsigned))
    assert done.returncode == 0, done.stderr
    fleet.backend.event("firmware.status", status="InvalidSignature", timeout=20)
    Path(f"{archive}.sig").write_text(signature + "\n")
    done = pilectl("--socket", str(fleet.pile.socket), "update", str(archive))
    assert done.returncode == 0 and "updating from" in done.stdout, done.stderr
    fleet.backend.event("firmware.status", status="Installed", version="1.1.0", timeout=60)
    assert not (fleet.pile.state / "update.tar.gz").exists(), "the copy is not kept"


def test_ocpp_signed_update_firmware_reports_against_its_request(
    ocpp_fleet: Fleet, csms: Csms
) -> None:
    fleet = ocpp_fleet
    archive, _, signature = fleet.release("1.1.0")
    firmware = {
        "location": fleet.files.url + archive.name,
        "retrieveDateTime": "2026-01-01T00:00:00.000Z",  # the past: at once
        "signingCertificate": "-----BEGIN CERTIFICATE-----\n(unused)",
        "signature": signature,
    }
    answer = csms.call(call.SignedUpdateFirmware(request_id=7, firmware=firmware))
    assert answer.status == "Accepted"
    busy = csms.call(call.SignedUpdateFirmware(request_id=8, firmware=firmware))
    assert busy.status == "Rejected"  # one update at a time
    csms.wait("SignedFirmwareStatusNotification", status="Installed", timeout=60)
    assert csms.calls("SignedFirmwareStatusNotification") == [
        {"status": status, "requestId": 7}
        for status in ("Downloading", "Downloaded", "Installing", "Installed")
    ]
    fleet.systemd.running("1.1.0")
    boots = csms.calls("BootNotification")
    assert [b["firmwareVersion"] for b in boots] == [BASE, "1.1.0"]


def test_ocpp_update_firmware_reads_the_signature_beside_the_release(
    ocpp_fleet: Fleet, csms: Csms
) -> None:
    fleet = ocpp_fleet
    archive, _, signature = fleet.release("1.1.0")
    location = fleet.files.url + archive.name
    retrieve = "2026-01-01T00:00:00.000Z"
    csms.call(call.UpdateFirmware(location=location, retrieve_date=retrieve))
    # No .sig beside it yet: unsigned, while a key is configured.
    csms.wait("FirmwareStatusNotification", status="InstallationFailed", timeout=20)
    Path(f"{archive}.sig").write_text(signature + "\n")
    csms.call(call.UpdateFirmware(location=location, retrieve_date=retrieve))
    csms.wait("FirmwareStatusNotification", status="Installed", timeout=60)
    said = [c["status"] for c in csms.calls("FirmwareStatusNotification")]
    assert said == ["Downloading", "Downloaded", "InstallationFailed",
                    "Downloading", "Downloaded", "Installing", "Installed"]  # fmt: skip
    assert "InvalidSignature" in fleet.pile.logs()  # the plain enum's word is coarser


@pytest.mark.wall_clock("kill -9 at random instants of real downloads, installs and starts")
def test_kill_9_at_random_instants_of_an_update_never_leaves_no_release(fleet: Fleet) -> None:
    """Whenever it settles, the pile runs one whole release, confirmed: the old one, or the new
    one. Never neither, never one half installed."""
    chance = random.Random(int(os.environ.get("TORTURE_SEED", "20")))
    releases = Releases(fleet.root)
    for n in range(1, 7):
        running = releases.current()
        assert running is not None
        fleet.offer(f"1.1.{n}")
        time.sleep(chance.uniform(0.0, 2.5))  # download, check, install, switch, restart
        fleet.systemd.kill()
        settled = wait_settled(fleet)
        assert settled in (running, f"1.1.{n}"), (n, settled)
        assert releases.complete(settled) and releases.on_trial() is None
        if (fleet.root / "previous").is_symlink():
            previous = Path(os.readlink(fleet.root / "previous")).name
            assert releases.complete(previous), "the release to go back to is whole"
    # A release a kill cut off mid-install is removed by the next start, on a worker thread.
    deadline = time.monotonic() + 10
    while half := [
        r.name
        for r in (fleet.root / "releases").iterdir()
        if not (r.name.startswith(".") or releases.complete(r.name))
    ]:
        assert time.monotonic() < deadline, f"half-built releases left: {half}"
        time.sleep(0.1)


def wait_settled(fleet: Fleet, timeout: float = 60.0) -> str:
    """The release the pile runs once nothing is on trial or under way any more."""
    deadline = time.monotonic() + timeout
    releases = Releases(fleet.root)
    while time.monotonic() < deadline:
        version = releases.current()
        if version and releases.on_trial() is None:
            try:
                report = fleet.pile.status()
                if report["firmware"] == version and not (fleet.root / "trial").exists():
                    return version
            except Exception:
                pass
        time.sleep(0.1)
    raise TimeoutError(f"never settled: starts {fleet.systemd.started}")
