"""pilectl without a daemon: a clear line, not a traceback."""

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
