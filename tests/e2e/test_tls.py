"""The backend link over TLS, against mosquitto with `require_certificate true` and
certificates the test makes: a CA, the broker's certificate, and a client certificate per pile.
Each way it can go wrong in the field is one clear line naming the file or the reason, then
retries with backoff; a file the pile cannot use stops it at the start, naming the key."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rig.backend import Backend
from rig.broker import Broker, free_port
from rig.certs import Authority, Issued
from rig.pile import PileProcess, pile_controller
from rig.proxy import Proxy
from tests.e2e.test_bad_brokers import Setup, charging_through_a_bad_broker, lines_with
from tests.e2e.test_link import reserve_fields

pytestmark = pytest.mark.wall_clock("TLS handshakes with a real broker, retried on backoff")


Attempt = Callable[..., Setup]


@dataclass
class Pki:
    ca: Authority
    other: Authority  # a CA the broker does not know
    broker: Issued


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    ca = Authority(tmp_path / "pki")
    return Pki(ca, Authority(tmp_path / "pki", "Other CA"), ca.issue("broker", server=True))


def tls_broker(workdir: Path, ca: Authority, served: Issued) -> tuple[Broker, int]:
    """mosquitto with a plain listener for the rig's backend and a TLS one, requiring a
    client certificate from `ca`, for the pile."""
    tls_port = free_port()
    options = (
        "allow_anonymous true\n"
        f"listener {tls_port} 127.0.0.1\n"
        f"cafile {ca.cert}\ncertfile {served.cert}\nkeyfile {served.key}\n"
        "require_certificate true\n"
    )
    return Broker(workdir, options=options), tls_port


def tls_lines(ca: Path, cert: Issued | None) -> str:
    files = f'ca = "{ca}"' + (f', cert = "{cert.cert}", key = "{cert.key}"' if cert else "")
    return f"connect_timeout_s = 1\ntls = {{ {files} }}"


@pytest.fixture
def attempt(tmp_path: Path, pki: Pki) -> Iterator[Attempt]:
    """Starts a pile on the TLS listener (through a proxy that counts its attempts) with the
    given files, against a broker serving `served` (the good broker certificate by default)."""
    running: list[Setup] = []

    def start(ca: Path, cert: Issued | None, served: Issued | None = None) -> Setup:
        broker, tls_port = tls_broker(tmp_path / "broker", pki.ca, served or pki.broker)
        broker.start()
        proxy = Proxy(tls_port)
        pile = PileProcess(tmp_path, proxy.port, backend_extra=tls_lines(ca, cert))
        backend = Backend(broker.port, pile.pile_id).connect()
        running.append(Setup(broker, proxy, pile, backend))
        pile.start()
        return running[-1]

    yield start
    for s in running:
        s.backend.close()
        s.pile.stop()
        s.proxy.close()
        s.broker.stop()


def fails_once_and_retries(s: Setup, said: str) -> str:
    """Waits for the one line saying `said` and two more attempts after it; returns the line."""
    s.pile.wait_until(lambda _: bool(lines_with(said, s.pile)), timeout=15)
    seen = s.proxy.accepted
    s.pile.wait_until(lambda _: s.proxy.accepted >= seen + 2, timeout=15)
    lines = lines_with(said, s.pile)
    assert len(lines) == 1, s.pile.logs()  # then at most once a minute
    assert not s.pile.status()["backend"]["connected"]
    return lines[0]


def test_a_pile_with_its_certificate_talks_to_the_backend(attempt: Attempt, pki: Pki) -> None:
    s = attempt(pki.ca.cert, pki.ca.issue("PILE-T1"))
    s.backend.online()
    assert s.backend.ask("reserve", **reserve_fields("R1"))["status"] == "Accepted"
    s.backend.event("reservation.accepted", reservation_id="R1")


def test_a_broker_certificate_from_another_ca(attempt: Attempt, pki: Pki) -> None:
    s = attempt(pki.other.cert, pki.ca.issue("PILE-T1"))
    line = fails_once_and_retries(s, "does not verify against backend.tls.ca")
    assert str(pki.other.cert) in line and "self-signed certificate in certificate chain" in line


def test_an_expired_broker_certificate(attempt: Attempt, pki: Pki) -> None:
    expired = pki.ca.issue("old-broker", server=True, expired=True)
    s = attempt(pki.ca.cert, pki.ca.issue("PILE-T1"), served=expired)
    line = fails_once_and_retries(s, "does not verify against backend.tls.ca")
    assert "certificate has expired" in line


def test_an_expired_pile_certificate(attempt: Attempt, pki: Pki) -> None:
    mine = pki.ca.issue("PILE-T1", expired=True)
    s = attempt(pki.ca.cert, mine)
    line = fails_once_and_retries(s, "refused backend.tls.cert")
    assert str(mine.cert) in line and "it has expired" in line


def test_a_pile_certificate_the_broker_does_not_trust(attempt: Attempt, pki: Pki) -> None:
    mine = pki.other.issue("PILE-T1")
    s = attempt(pki.ca.cert, mine)
    line = fails_once_and_retries(s, "refused backend.tls.cert")
    assert str(mine.cert) in line and "does not trust the CA that signed it" in line


def test_no_pile_certificate_where_the_broker_wants_one(attempt: Attempt, pki: Pki) -> None:
    s = attempt(pki.ca.cert, None)
    fails_once_and_retries(s, "it likely wants a client certificate")


def test_a_tls_handshake_that_stalls_while_charging(attempt: Attempt, pki: Pki) -> None:
    s = attempt(pki.ca.cert, pki.ca.issue("PILE-T1"))
    s.backend.online()
    charging_through_a_bad_broker(s, "silent", "the TLS handshake with broker")


def test_files_the_pile_cannot_use_stop_it_at_the_start(tmp_path: Path, pki: Pki) -> None:
    mine = pki.ca.issue("PILE-T1")
    wrong_key = pki.ca.issue("PILE-T2").key
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("not a certificate\n")
    cases = {
        "backend.tls.ca: /nonexistent/ca.pem: No such file or directory": (
            Path("/nonexistent/ca.pem"),
            mine,
        ),
        f"backend.tls.ca: {not_pem}: no PEM certificates in it": (not_pem, mine),
        f"backend.tls.key: {wrong_key} is not the key of {mine.cert}": (
            pki.ca.cert,
            Issued(mine.cert, wrong_key),
        ),
        f"backend.tls.cert: {not_pem}: not a PEM certificate and its key in {mine.key}": (
            pki.ca.cert,
            Issued(not_pem, mine.key),
        ),
    }
    for n, (expected, (ca, cert)) in enumerate(cases.items()):
        workdir = tmp_path / f"pile{n}"
        pile = PileProcess(workdir, free_port(), backend_extra=tls_lines(ca, cert))
        done = pile_controller("--config", str(pile.config))
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [f"pile-controller: {expected}"], done.stderr
        shutil.rmtree(workdir)


def test_tls_to_a_port_without_it(tmp_path: Path, pki: Pki) -> None:
    with Broker(tmp_path / "plain") as plain:  # mosquitto's plain MQTT listener
        files = tls_lines(pki.ca.cert, pki.ca.issue("PILE-T1"))
        pile = PileProcess(tmp_path, plain.port, backend_extra=files).start()
        said = f"broker 127.0.0.1:{plain.port} does not speak TLS on this port"
        try:
            pile.wait_until(lambda _: said in pile.logs(), timeout=15)
        finally:
            pile.stop()
