"""A bug in the core that bites on every tick: the power goes off every time, and the log gets
its traceback once and then every 100th time, not ten tracebacks a second."""

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from pile_controller.core import commands as cmd
from pile_controller.core import events as ev
from tests.in_process import in_process_daemon


def test_a_bug_on_every_tick_is_logged_once_in_a_hundred_and_powers_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        daemon, sim = in_process_daemon(tmp_path)

        def broken(*_: Any) -> None:
            sim.relays[1].close()  # as if power had come on before the bug bit
            raise KeyError("a bug")

        daemon.pile.handle = broken  # type: ignore[assignment]
        with caplog.at_level(logging.ERROR, logger="pile_controller"):
            for _ in range(250):
                daemon.feed(ev.Tick())
                assert not sim.relays[1].closed
        daemon.store.close()

    asyncio.run(scenario())
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in logged] == [
        f"handling Tick failed ({n} times so far): Tick()" for n in (1, 101, 201)
    ]
    assert all(r.exc_info for r in logged)  # with the traceback


def test_a_bug_in_background_work_is_logged_and_ends_it_for_the_core(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An update (or an upload) that dies of a bug says so, once, and the next is welcome:
    not Busy until a restart."""

    async def scenario() -> None:
        daemon, _ = in_process_daemon(tmp_path)
        order = cmd.Update("https://example.com/r.tar.gz", "0" * 64, "sig")
        assert daemon.pile.command(order, daemon.now())[0] == cmd.ACCEPTED

        async def broken() -> None:
            raise KeyError("a bug")

        with caplog.at_level(logging.ERROR, logger="pile_controller"):
            daemon._background(broken(), ev.FirmwareProgress("InstallationFailed", None, "bug"))
            await asyncio.sleep(0.05)
        assert daemon.pile.command(order, daemon.now())[0] == cmd.ACCEPTED
        daemon.store.close()

    asyncio.run(scenario())
    (logged,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged.getMessage().startswith("background work failed (1 times so far)")
