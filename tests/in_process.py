"""The daemon built in the test's own process, on simulated hardware behind the interlock, no
screen. Tests reach into it where a subprocess could not: hold a flush, break the journal,
inject a bug, record what the link is given."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hal.interfaces import Hardware
from hal.sim import SimPile
from pile_controller import config
from pile_controller.daemon import Daemon
from pile_controller.journal.store import Store
from pile_controller.screen.display import NoDisplay
from pile_controller.service.hardware import open_hardware
from pile_controller.service.start import assemble
from pile_controller.signing import PileKey
from rig.pile import PileProcess


def in_process_daemon(tmp_path: Path, broker_port: int = 1) -> tuple[Daemon, SimPile]:
    """As the daemon assembles itself, with a broker port that may refuse (it only retries)."""
    settings = config.load(PileProcess(tmp_path, broker_port, connectors=1).config)
    hardware = open_hardware(settings)
    assert isinstance(hardware.backend, SimPile)
    return assemble(settings, hardware, NoDisplay()), hardware.backend


def daemon_with(
    tmp_path: Path,
    link: Any,
    connectors: int = 1,
    store: Callable[[Path], Store] = Store,
    hardware: Callable[[Hardware], Hardware] = lambda h: h,
) -> tuple[Daemon, SimPile]:
    """The daemon passed a stand-in link (or what makes one of the settings), a journal of the
    test's kind (`store(path)`) and its hardware as the test wraps it, on the simulated pile's
    clock."""
    settings = config.load(PileProcess(tmp_path, 1, connectors=connectors).config)
    if not hasattr(link, "attach"):
        link = link(settings)
    opened = open_hardware(settings)
    sim = opened.backend
    assert isinstance(sim, SimPile)
    state = settings.pile.state_dir
    key = PileKey.load_or_create(state / "pile.key")
    daemon = Daemon(
        settings,
        hardware(opened),
        NoDisplay(),
        store(state / "journal.sqlite"),
        link,
        key,
        sim.wall_clock,
    )
    return daemon, sim
