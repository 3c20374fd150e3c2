"""The releases on disk and `scripts/release-check` (CONTRACT 12): a switch puts the new
release on trial, release-check counts its starts and switches back after three, or at once
when it gave up; a confirmed release keeps itself and the one before it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pile_controller.core import commands as cmd
from pile_controller.core import events as ev
from pile_controller.core.effects import InstallUpdate
from pile_controller.core.pile import Pile
from pile_controller.fleet import update
from pile_controller.fleet.releases import MAX_STARTS, Releases
from rig.bench import T0, Bench

CHECK = Path(__file__).resolve().parent.parent / "scripts/release-check"


def layout(root: Path, *versions: str, complete: bool = True) -> Releases:
    for version in versions:
        (root / "releases" / version).mkdir(parents=True)
        if complete:
            (root / "releases" / version / ".complete").touch()
    return Releases(root)


def check(root: Path) -> str:
    done = subprocess.run([str(CHECK), str(root)], capture_output=True, text=True, check=True)
    return done.stderr


def test_a_release_that_never_comes_up_is_switched_back_before_its_fourth_start(
    tmp_path: Path,
) -> None:
    releases = layout(tmp_path, "1.0", "1.1")
    (tmp_path / "current").symlink_to("releases/1.0")
    releases.switch("1.1")
    assert (releases.current(), releases.on_trial()) == ("1.1", "1.1")
    assert os.readlink(tmp_path / "previous") == "releases/1.0"
    for start in range(1, MAX_STARTS + 1):
        assert check(tmp_path) == ""
        assert (tmp_path / "trial").read_text() == f"1.1 {start}\n"
    said = check(tmp_path)
    assert said == "release-check: release 1.1: it did not start (3 tries); back to 1.0\n"
    assert (releases.current(), releases.on_trial()) == ("1.0", None)
    assert releases.rolled_back() == ("1.1", "it did not start (3 tries)")
    releases.reported()
    assert releases.rolled_back() is None and check(tmp_path) == ""


def test_a_release_that_gave_up_is_switched_back_at_its_next_start(tmp_path: Path) -> None:
    releases = layout(tmp_path, "1.0", "1.1")
    (tmp_path / "current").symlink_to("releases/1.0")
    releases.switch("1.1")
    check(tmp_path)
    releases.give_up()
    check(tmp_path)
    assert releases.current() == "1.0"
    assert releases.rolled_back() == ("1.1", "it did not come online within update.confirm_s")


def test_a_confirmed_release_stays_and_keeps_only_the_one_before_it(tmp_path: Path) -> None:
    releases = layout(tmp_path, "0.9", "1.0", "1.1")
    (tmp_path / "current").symlink_to("releases/1.0")
    releases.switch("1.1")
    check(tmp_path)
    releases.confirm()
    assert releases.on_trial() is None and not (tmp_path / "trial").exists()
    assert sorted(p.name for p in (tmp_path / "releases").iterdir()) == ["1.0", "1.1"]
    check(tmp_path)
    assert releases.current() == "1.1", "nothing on trial: release-check does nothing"


def test_a_switch_cut_off_before_current_moved_leaves_nothing_on_trial(tmp_path: Path) -> None:
    releases = layout(tmp_path, "1.0", "1.1")
    (tmp_path / "current").symlink_to("releases/1.0")
    (tmp_path / "trial").write_text("1.1 0\n")  # the power went before `current` was moved
    assert releases.on_trial() is None
    check(tmp_path)
    assert releases.current() == "1.0" and not (tmp_path / "trial").exists()


def test_without_a_whole_previous_release_the_current_one_is_kept(tmp_path: Path) -> None:
    releases = layout(tmp_path, "1.1")
    (tmp_path / "current").symlink_to("releases/1.1")
    (tmp_path / "previous").symlink_to("releases/1.0")  # gone
    (tmp_path / "trial").write_text(f"1.1 {MAX_STARTS}\n")
    check(tmp_path)
    assert releases.current() == "1.1" and not (tmp_path / "trial").exists()


def test_releases_an_update_left_half_built_are_cleared(tmp_path: Path) -> None:
    releases = layout(tmp_path, "1.0")
    layout(tmp_path, "1.1", complete=False)
    (tmp_path / "releases/.incoming").mkdir()
    (tmp_path / "current").symlink_to("releases/1.0")
    releases.clear_leftovers()
    assert [p.name for p in (tmp_path / "releases").iterdir()] == ["1.0"]


def test_release_check_on_a_pile_with_no_layout_does_nothing(tmp_path: Path) -> None:
    assert check(tmp_path / "nowhere") == "" and check(tmp_path) == ""


def test_an_update_that_cannot_write_its_folder_is_one_status_and_changes_nothing(
    tmp_path: Path,
) -> None:
    """A full disk or a folder the daemon may not write: InstallationFailed, said once, and the
    running release stays (run as root, a read-only folder is not one: a file stands in)."""
    releases = layout(tmp_path, "1.0")
    (tmp_path / "current").symlink_to("releases/1.0")
    (tmp_path / "releases/.incoming").write_text("not a folder")  # where the download goes
    said: list[ev.Event] = []
    pile = update.Pile(
        said.append, lambda: False, lambda why: None, None, releases, lambda: datetime.now(UTC)
    )
    asyncio.run(update.carry_out(cmd.Update("http://127.0.0.1:9/r.tar.gz"), pile))
    assert [(e.status, e.reason is not None) for e in said] == [  # type: ignore[union-attr]
        ("Downloading", False),
        ("InstallationFailed", True),
    ]
    assert releases.current() == "1.0" and releases.on_trial() is None


def test_a_url_nobody_answers_is_download_failed_after_three_tries(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits: list[float] = []
    with pytest.raises(update.UpdateFailed) as failed:
        update.fetch(f"http://127.0.0.1:{port}/r.tar.gz", tmp_path / "r", False, sleep=waits.append)
    assert failed.value.status == "DownloadFailed" and waits == [2.0, 4.0]
    assert "Connection refused" in str(failed.value) and str(failed.value).endswith("(3 tries)")
    with pytest.raises(update.UpdateFailed, match="cannot download from a 'file' url"):
        update.fetch((tmp_path / "r").as_uri(), tmp_path / "s", local=False)  # pilectl's only


def test_one_update_at_a_time_and_the_next_once_it_is_over() -> None:
    pile, now = Pile([1], Bench().ctx, T0), T0
    order = cmd.Update("https://example.com/r.tar.gz", "0" * 64, "sig")
    reply, effects = pile.command(order, now)
    assert reply == cmd.ACCEPTED and effects == [InstallUpdate(order)]
    assert pile.command(order, now)[0] == cmd.rejected("Busy")
    for status in ("Downloading", "Downloaded", "Installing"):
        pile.handle(ev.FirmwareProgress(status), now)
        assert pile.command(order, now)[0] == cmd.rejected("Busy")
    pile.handle(ev.FirmwareProgress("DownloadFailed", None, "refused"), now)
    assert pile.command(order, now)[0] == cmd.ACCEPTED
