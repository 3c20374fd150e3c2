"""The daemon built in the test's own process: one connector on simulated hardware behind the
interlock, no screen, and a broker port that may refuse (the link only retries). Tests reach
into it where a subprocess could not: hold a flush, break the journal, inject a bug."""

from pathlib import Path

from hal.devices import open_hardware
from hal.sim import SimPile
from pile_controller import config
from pile_controller.daemon import Daemon, assemble
from pile_controller.display import NoDisplay
from rig.pile import PileProcess


def in_process_daemon(tmp_path: Path, broker_port: int = 1) -> tuple[Daemon, SimPile]:
    settings = config.load(PileProcess(tmp_path, broker_port, connectors=1).config)
    hardware = open_hardware(settings)
    assert isinstance(hardware.backend, SimPile)
    return assemble(settings, hardware, NoDisplay()), hardware.backend
