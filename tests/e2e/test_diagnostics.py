"""Diagnostics (CONTRACT 12) asked for over MQTT and OCPP 1.6: one .tar.gz uploaded by HTTP
PUT or FTP, with the recent log, the checks, the status, the config with every secret replaced
by "***" (the archive is searched for each secret of the config and the key files) and the
journal's newest events; progress as `diagnostics.status` events and
DiagnosticsStatusNotification."""

from __future__ import annotations

import io
import json
import socket
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call

from rig.csms import Csms
from rig.pile import PileProcess
from rig.uploads import FtpUploads, HttpUploads
from tests.e2e.ocpp_rig import ocpp_options

SECRET = "hunter2-broker-secret"
# pyftpdlib, the test's FTP server, still runs on asyncore and asynchat (deprecated in 3.11).
pytestmark = pytest.mark.filterwarnings("ignore:The asyn:DeprecationWarning")


def files_of(archive: bytes) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {
            m.name.split("/", 1)[1]: tar.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in tar.getmembers()
        }


def test_diagnostics_over_mqtt_hold_what_a_technician_needs_and_no_secret(make_rig: Any) -> None:
    rig = make_rig(backend_extra=f'username = "pile"\npassword = "{SECRET}"')
    be, pile = rig.backend, rig.pile
    uploads = HttpUploads()
    try:
        pile.sim("plug", 1)
        be.ask("start", connector=1, id_token="diag")
        be.event("transaction.started")
        reply = be.ask("diagnostics", url=uploads.url)
        assert reply["status"] == "Accepted"
        be.event("diagnostics.status", status="Uploading", url=uploads.url)
        be.event("diagnostics.status", status="Uploaded", url=uploads.url, reason=None)
        ((method, path, body),) = uploads.received
        assert (
            method == "PUT"
            and path.startswith("/diagnostics-PILE-T1-")
            and path.endswith(".tar.gz")
        )
        files = files_of(body)
        assert set(files) == {
            "log.txt",
            "selftest.json",
            "status.json",
            "config.toml",
            "events.jsonl",
        }
        assert "pile PILE-T1 up" in files["log.txt"]
        assert json.loads(files["status.json"])["connectors"][0]["state"] == "charging"
        assert {c["name"] for c in json.loads(files["selftest.json"])} >= {"broker", "disk"}
        assert 'password = "***"' in files["config.toml"]
        types = [json.loads(line)["type"] for line in files["events.jsonl"].splitlines()]
        assert "transaction.started" in types
        key = (pile.state / "pile.key").read_bytes()
        for secret in (SECRET.encode(), key, key.hex().encode()):
            assert secret not in body and secret not in b"".join(f.encode() for f in files.values())
    finally:
        uploads.stop()


@pytest.mark.wall_clock("the pile waits between its tries of an upload in real time")
def test_an_upload_that_cannot_be_made_is_upload_failed_with_its_reason(make_rig: Any) -> None:
    rig = make_rig()
    be = rig.backend
    uploads = HttpUploads(status=403)
    try:
        assert be.ask("diagnostics", url=uploads.url)["status"] == "Accepted"
        failed = be.event("diagnostics.status", status="UploadFailed", timeout=30)["data"]
        assert "HTTP 403" in failed["reason"] and "3 tries" in failed["reason"]
        assert len(uploads.received) == 3
    finally:
        uploads.stop()


def test_get_diagnostics_over_ocpp_by_ftp(tmp_path: Path, csms: Csms) -> None:
    ftp = FtpUploads(tmp_path / "ftp")
    pile = PileProcess(tmp_path / "pile", 1, connectors=1, **ocpp_options(csms.url)).start()
    try:
        csms.wait_connected()
        reply = csms.call(call.GetDiagnostics(location=ftp.url))
        assert reply.file_name.startswith("diagnostics-PILE-T1-")
        csms.wait("DiagnosticsStatusNotification", status="Uploading")
        csms.wait("DiagnosticsStatusNotification", status="Uploaded")
        (stored,) = list(ftp.folder.iterdir())
        assert stored.name == reply.file_name
        assert "status.json" in files_of(stored.read_bytes())
    finally:
        pile.stop()
        ftp.stop()


def test_get_log_reports_against_its_request_and_get_diagnostics_after_it_does_not(
    tmp_path: Path, csms: Csms
) -> None:
    uploads = HttpUploads()
    pile = PileProcess(tmp_path / "pile", 1, connectors=1, **ocpp_options(csms.url)).start()
    try:
        csms.wait_connected()
        log = {"remoteLocation": uploads.url}
        reply = csms.call(call.GetLog(log=log, log_type="DiagnosticsLog", request_id=42))
        assert reply.status == "Accepted" and reply.filename.startswith("diagnostics-PILE-T1-")
        csms.wait("LogStatusNotification", status="Uploaded", requestId=42)
        assert [c["status"] for c in csms.calls("LogStatusNotification")] == [
            "Uploading",
            "Uploaded",
        ]
        ((method, path, body),) = uploads.received
        assert method == "PUT" and path == "/" + reply.filename
        assert "status.json" in files_of(body)
        # The request is done: a GetDiagnostics after it is reported the plain 1.6 way.
        csms.call(call.GetDiagnostics(location=uploads.url))
        csms.wait("DiagnosticsStatusNotification", status="Uploaded")
        assert len(csms.calls("LogStatusNotification")) == 2
    finally:
        pile.stop()
        uploads.stop()


@pytest.mark.wall_clock("a stop is timed against an upload that hangs in real time")
def test_a_stop_does_not_wait_for_an_upload_to_a_server_that_stalls(make_rig: Any) -> None:
    rig = make_rig()
    with socket.socket() as server:  # accepts, then never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/"
        assert rig.backend.ask("diagnostics", url=url)["status"] == "Accepted"
        rig.backend.event("diagnostics.status", status="Uploading", url=url)
        assert rig.backend.ask("diagnostics", url=url)["reason"] == "Busy"  # one at a time
        started = time.monotonic()
        assert rig.pile.stop() == 0
        assert time.monotonic() - started < 5, "the stop waited for the upload"
