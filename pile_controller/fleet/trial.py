"""A release's first minutes after an update (CONTRACT 12): on trial until it is online (the
backend link up, the selftest's software checks ok) within `update.confirm_s`, then
`Installed`; otherwise it gives up (once no session runs: a rollback interrupts none) and
stops, and `scripts/release-check` switches back before the next start. The release switched
back to reports the failed one as `InstallationFailed`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from pile_controller import __version__
from pile_controller.core import events as ev
from pile_controller.fleet.releases import Releases

log = logging.getLogger("pile_controller.update")
POLL_S = 0.5


async def watch(
    releases: Releases,
    confirm_s: float,
    online: Callable[[], bool],
    in_session: Callable[[], bool],
    feed: Callable[[ev.Event], None],
    stop: Callable[[str], None],
) -> None:
    """At every start of a release installed by scripts/install or an update. Releases are
    removed on a worker thread: thousands of files, seconds on an SD card."""
    await asyncio.to_thread(releases.clear_leftovers)
    if ended := releases.rolled_back():  # said once: journaled before the marker goes
        version, why = ended
        log.warning("release %s was switched back: %s", version, why)
        feed(ev.FirmwareProgress("InstallationFailed", version, why))
        releases.reported()
    if releases.on_trial() != __version__:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + confirm_s
    while loop.time() < deadline:
        if online():
            feed(ev.FirmwareProgress("Installed", __version__))
            log.info("release %s is online: confirmed", __version__)
            await asyncio.to_thread(releases.confirm)
            return
        await asyncio.sleep(POLL_S)
    while in_session():
        await asyncio.sleep(POLL_S)
    log.error("release %s did not come online within update.confirm_s: going back", __version__)
    releases.give_up()
    stop("Update")
