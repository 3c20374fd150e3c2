"""pilectl without a daemon: a clear line, not a traceback."""

import subprocess
import sys
from pathlib import Path

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
        "import sys, pile_controller.cli\n"
        "heavy = ('pile_controller.daemon', 'paho', 'PIL', 'pymodbus', 'transitions')\n"
        "print([m for m in sys.modules if m.startswith(heavy)])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
