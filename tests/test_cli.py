"""pilectl without a daemon: a clear line, not a traceback."""

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pile_controller.technician.cli import CliError, ask
from rig.pile import pilectl


def test_status_without_a_running_daemon_says_so(tmp_path: Path) -> None:
    run = pilectl("--socket", str(tmp_path / "none.sock"), "status")
    assert run.returncode == 1
    assert (
        run.stderr
        == f"pilectl: the daemon is not running (no control socket at {tmp_path}/none.sock)\n"
    )


def test_status_with_a_broken_config_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text("[pile]\nid = 3\n")
    run = pilectl("--config", str(bad), "status")
    assert run.returncode == 1 and len(run.stderr.splitlines()) == 1
    assert run.stderr.startswith("pilectl: pile.id: expected a string")


def test_pilectl_imports_neither_the_daemon_nor_the_libraries_it_does_not_use() -> None:
    # A technician's `pilectl status` should answer at once, even on a Pi Zero: the daemon,
    # paho, Pillow and pymodbus (needed by `meter read` alone) stay unloaded.
    probe = (
        "import sys, pile_controller.technician.cli\n"
        "heavy = ('pile_controller.daemon', 'paho', 'PIL', 'pymodbus')\n"
        "print([m for m in sys.modules if m.startswith(heavy)])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_refusal_sent_before_the_request_was_read_is_still_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The daemon refuses a peer as soon as it connects and hangs up; the request written after
    # that meets a closed socket (EPIPE), and the refusal waiting to be read must not be lost.
    path = tmp_path / "c.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    refused = threading.Event()

    def refuse() -> None:
        peer, _ = server.accept()
        peer.sendall(b'{"ok": false, "error": "not allowed: uid 65534"}\n')
        peer.close()
        refused.set()

    threading.Thread(target=refuse, daemon=True).start()
    connect = socket.socket.connect

    def connect_then_wait(self: socket.socket, address: object) -> None:
        connect(self, address)
        assert refused.wait(5)  # answered and closed before the request is sent

    monkeypatch.setattr(socket.socket, "connect", connect_then_wait)
    try:
        with pytest.raises(CliError, match="not allowed: uid 65534"):
            ask(path, {"cmd": "status"})
    finally:
        server.close()
