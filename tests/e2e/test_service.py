"""The daemon as systemd runs it: readiness, watchdog, and start-up errors in one line."""

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from rig.broker import free_port
from rig.pile import PileProcess, pile_controller

ROOT = Path(__file__).resolve().parents[2]


def test_tells_systemd_it_is_ready_pings_the_watchdog_and_says_when_it_stops(
    tmp_path: Path,
) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(10)
        pile = PileProcess(tmp_path, free_port())  # no broker: readiness must not wait for it
        pile.start(env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"})
        try:
            assert listener.recv(100) == b"READY=1"
            assert listener.recv(100) == b"WATCHDOG=1"
        finally:
            pile.stop()
        said = []
        while (state := listener.recv(100)) != b"STOPPING=1":  # an orderly stop, not a hang
            said.append(state)
        assert set(said) <= {b"WATCHDOG=1"}


def test_the_rpi_driver_without_its_library_is_one_line_naming_the_extra_to_install() -> None:
    run = pile_controller("--config", str(ROOT / "config.rpi.toml"))
    assert run.returncode == 1
    assert run.stderr == (
        'pile-controller: hal.driver: "rpi" needs the RPi.GPIO module: install '
        "pile-controller[rpi] on a Pi 1-4, pile-controller[rpi5] on a Pi 5 "
        "(No module named 'RPi')\n"
    )


def test_status_reports_the_backend_down_when_there_is_no_broker(tmp_path: Path) -> None:
    port = free_port()
    pile: Any = PileProcess(tmp_path, port).start()
    try:
        report = pile.status()
        assert report["backend"] == {
            "protocol": "mqtt",
            "peer": f"127.0.0.1:{port}",
            "connected": False,
            "outbox": 0,
        }
        assert [c["state"] for c in report["connectors"]] == ["idle", "idle"]
    finally:
        pile.stop()


def test_a_read_only_journal_folder_is_one_line_and_no_start(tmp_path: Path) -> None:
    pile = PileProcess(tmp_path, free_port())
    pile.state.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(pile.state)], check=True
    )
    try:
        run = pile_controller("--config", str(pile.config))
    finally:
        subprocess.run(["umount", str(pile.state)], check=True)
    assert (run.returncode, run.stderr) == (
        1,
        f"pile-controller: pile.state_dir: {pile.state}: on a read-only file system\n",
    )


def test_a_journal_folder_of_another_user_is_one_line_and_no_start(tmp_path: Path) -> None:
    pile = PileProcess(tmp_path, free_port())
    pile.state.mkdir(parents=True, mode=0o700)  # root's own
    for folder in (tmp_path, *tmp_path.parents):  # the config must be readable by nobody
        folder.chmod(folder.stat().st_mode | 0o055)
    nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    # Not measured by coverage.py: nobody cannot write its data into root's checkout.
    env = {k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_CONFIG"}
    run = subprocess.run(
        [*nobody, sys.executable, "-m", "pile_controller", "--config", str(pile.config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert (run.returncode, run.stderr) == (
        1,
        f"pile-controller: pile.state_dir: {pile.state}: not writable by nobody (owned by root,"
        " mode 700)\n",
    )


def test_a_journal_folder_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    pile = PileProcess(tmp_path, free_port())
    pile.state.write_text("")
    run = pile_controller("--config", str(pile.config))
    assert run.stderr == f"pile-controller: pile.state_dir: {pile.state}: not a folder\n"


def test_a_control_socket_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    pile = PileProcess(tmp_path, free_port())
    blocker = tmp_path / "run"
    blocker.write_text("")  # where the socket's folder should be
    text = pile.config.read_text().replace(
        f'socket = "{pile.socket}"', f'socket = "{blocker}/x/c.sock"'
    )
    pile.config.write_text(text)
    run = pile_controller("--config", str(pile.config))
    assert (run.returncode, run.stderr) == (
        1,
        f"pile-controller: control.socket: {blocker}/x: cannot be made: Not a directory\n",
    )


def test_the_control_socket_answers_only_root_its_user_and_its_group(tmp_path: Path) -> None:
    pile = PileProcess(tmp_path, free_port()).start()
    try:
        assert pile.status()["pile_id"] == "PILE-T1"  # root
        for folder in (pile.socket.parent, tmp_path, *tmp_path.parents):
            folder.chmod(folder.stat().st_mode | 0o055)
        pile.socket.chmod(0o666)  # a mode loosened by hand: the credentials still decide
        env = {k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_CONFIG"}
        asks = [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            sys.executable,
            "-m",
            "pile_controller.technician.cli",
            "--socket",
            str(pile.socket),
            "status",
        ]
        for _ in range(3):
            run = subprocess.run(asks, capture_output=True, text=True, timeout=60, env=env)
            assert (run.returncode, run.stderr) == (
                1,
                "pilectl: not allowed: uid 65534 is neither root, the daemon's user nor in its "
                "group\n",
            )
        assert pile.status()["pile_id"] == "PILE-T1", "the daemon goes on"
        in_group = [a if a != "--clear-groups" else "--groups=0" for a in asks]  # root's group
        run = subprocess.run(in_group, capture_output=True, text=True, timeout=60, env=env)
        assert (run.returncode, run.stderr) == (0, ""), "a member of the daemon's group may"
    finally:
        pile.stop()
    refusals = [line for line in pile.logs().splitlines() if "control socket: not allowed" in line]
    assert len(refusals) == 1, "logged once, not once an attempt"
