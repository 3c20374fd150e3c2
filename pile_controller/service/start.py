"""Starting the daemon as a process: `pile-controller [--config PATH]` and `pile-controller
check-config PATH`. Reads and checks the config, opens what it names (the hardware, the screen,
the TLS context), assembles the daemon and runs it; anything that cannot be had is one line
naming its key, and exit 1."""

from __future__ import annotations

import argparse
import asyncio
import logging
import ssl
import sys
from pathlib import Path

from hal.interfaces import Simulated
from hal.interlock import Interlock
from pile_controller import config
from pile_controller.backend import tls as link_tls
from pile_controller.backend.link import Link
from pile_controller.daemon import Daemon, wall_clock
from pile_controller.fleet.recent import RECENT
from pile_controller.journal.store import JournalError, Store
from pile_controller.screen.display import Display, DisplayError, NoDisplay, open_display
from pile_controller.service import policy
from pile_controller.service.folders import writable_problem
from pile_controller.service.hardware import open_hardware
from pile_controller.service.journald import JournalHandler, under_journal
from pile_controller.signing import KeyFileError, PileKey


def assemble(
    settings: config.Settings,
    hardware: Interlock,
    display: Display | NoDisplay,
    tls: ssl.SSLContext | None = None,
    password: str | None = None,
) -> Daemon:
    """The daemon and what it is passed: the journal, the pile's key, the backend link (over
    `tls` if given; `password`: OCPP's Basic authentication) and the clock (the simulated
    pile's own, which `pilectl sim clock` moves). Call it on the loop."""
    state = settings.pile.state_dir
    store = Store(state / "journal.sqlite")
    key = PileKey.load_or_create(state / "pile.key")
    simulated = getattr(hardware, "backend", hardware)
    clock = simulated.wall_clock if isinstance(simulated, Simulated) else wall_clock
    link: Link
    # Only the protocol's own modules are imported: an MQTT pile loads nothing of OCPP's, and
    # an OCPP pile nothing of paho's.
    if settings.backend.protocol == "ocpp1.6":
        from pile_controller.backend.ocpp.v16.link import Ocpp16Link

        link = Ocpp16Link(settings, tls, password)
    elif settings.backend.protocol == "ocpp2.0.1":
        from pile_controller.backend.ocpp.v201.link import Ocpp201Link

        link = Ocpp201Link(settings, tls, password)
    else:
        from pile_controller.backend.mqtt.link import MqttLink
        from pile_controller.backend.mqtt.messages import Birth

        link = MqttLink(settings, Birth(settings, key.public_b64, started=clock()), tls)
    return Daemon(settings, hardware, display, store, link, key, clock)


def link_credentials(settings: config.Settings) -> tuple[ssl.SSLContext | None, str | None]:
    """The backend's TLS context and password, read before the start (ConfigError naming the
    key of a file that cannot be used)."""
    if settings.backend.protocol == "mqtt":
        return link_tls.context(settings.backend.tls), None
    from pile_controller.backend.ocpp.security import credentials

    assert settings.ocpp is not None
    return credentials(settings.ocpp)


def check_config(path: str) -> int:
    try:
        settings = config.load(Path(path))
    except config.ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    for warning in config.warnings(settings):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{path}: OK")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["check-config"]:
        if len(argv) != 2:
            print("usage: pile-controller check-config PATH", file=sys.stderr)
            return 2
        return check_config(argv[1])
    if argv == ["prepare"]:  # once per release, by scripts/install and an update
        from pile_controller import fastclasses

        print(f"{fastclasses.build()} dataclass methods compiled into {fastclasses.CACHE}")
        return 0
    # An input callback's thread (the e-stop's) gets the interpreter within about this long,
    # however busy the loop and the other threads are (benchmarks/estop.py, "busy").
    sys.setswitchinterval(policy.SWITCH_INTERVAL_S)
    parser = argparse.ArgumentParser(
        prog="pile-controller", description="The charging pile's controller daemon."
    )
    parser.add_argument("--config", type=Path, default=None, help="config file (TOML)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if under_journal():
        handler: logging.Handler = JournalHandler()  # the journal keeps level and time itself
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler, RECENT])
    path = args.config or config.default_path()
    try:
        settings = config.load(path)
        folders = {  # each folder once: the journal's key where the socket shares its folder
            settings.control.socket.parent: "control.socket",
            settings.pile.state_dir: "pile.state_dir",
        }
        problems = [f"{key}: {p}" for f, key in folders.items() if (p := writable_problem(f))]
        if problems:
            raise config.ConfigError(problems)
        tls, password = link_credentials(settings)
        hardware = open_hardware(settings)
        display = open_display(settings)
    except config.ConfigError as exc:
        for problem in exc.problems:
            print(f"pile-controller: {problem}", file=sys.stderr)
        return 1
    except DisplayError as exc:
        print(f"pile-controller: display: {exc}", file=sys.stderr)
        return 1

    async def run() -> int:
        daemon = assemble(settings, hardware, display, tls, password)
        await daemon.run()
        return 1 if daemon.failure else 0

    try:
        return asyncio.run(run())
    except (OSError, JournalError, KeyFileError) as exc:
        print(f"pile-controller: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
