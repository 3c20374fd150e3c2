"""The daemon as a subprocess with a temporary config, and its control socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pile_controller.technician.cli import CliError, ask

CONFIG = """\
[pile]
id = "{pile_id}"
state_dir = "{state}"
location = {{ lat = 22.5431, lon = 114.0579 }}
timezone = "{timezone}"

[backend]
host = "127.0.0.1"
port = {port}
topic_prefix = "{prefix}"
{backend_extra}

[hal]
{hal}

[reservation]
max_attempts = {max_attempts}
lockout_s = {lockout_s}

[control]
socket = "{state}/control.sock"

[metering]
interval_s = {interval_s}
stale_after_s = 5

[payment]
url_template = "https://pay.example.com/p?pile={{pile_id}}&tx={{transaction_id}}&amount={{amount}}&cur={{currency}}"
{payment_extra}

[display]
driver = "{display}"
path = "{display_path}"
start_url_template = "https://app.example.com/start?pile={{pile_id}}&c={{connector}}"

[tariff]
tariff_id = "T-FLAT"
currency = "CNY"
energy_price = "1.20"
service_fee = "0.80"
{connectors}"""


SIM_METER = 'meter = { model = "sim" }'
SIM_HAL = 'driver = "sim"\nrelay_feedback_ms = 200'


class PileProcess:
    def __init__(self, workdir: Path, broker_port: int, connectors: int = 2, **options: Any):
        self.workdir = workdir
        self.state = workdir / "state"
        self.pile_id = options.get("pile_id", "PILE-T1")
        self.prefix = options.get("prefix", "piles")
        self.config = workdir / "pile.toml"
        self.socket = self.state / "control.sock"
        self.log = workdir / "daemon.log"
        self.process: subprocess.Popen[bytes] | None = None
        # False: not under coverage.py even in a measured run (a daemon killed with SIGKILL
        # never saves what it measured; starting it under coverage only costs time).
        self.measured = True
        meters: dict[int, str] = options.get("meters", {})  # connector -> its `meter = ...` line
        extra: dict[int, str] = options.get("connector_extra", {})  # connector -> more lines
        workdir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            CONFIG.format(
                pile_id=self.pile_id,
                state=self.state,
                port=broker_port,
                prefix=self.prefix,
                timezone=options.get("timezone", "UTC"),
                backend_extra=options.get("backend_extra", ""),
                payment_extra=options.get("payment_extra", ""),
                max_attempts=options.get("max_attempts", 5),
                lockout_s=options.get("lockout_s", 300),
                interval_s=options.get("interval_s", 10),
                display=options.get("display", "none"),
                display_path=options.get("display_path", f"{self.state}/screen-{{connector}}.png"),
                hal=options.get("hal", SIM_HAL),
                connectors="".join(
                    f"\n[[connectors]]\nid = {i}\n{meters.get(i, SIM_METER)}\n{extra.get(i, '')}\n"
                    for i in range(1, connectors + 1)
                ),
            )
        )

    def start(
        self,
        timeout: float = 15.0,
        env: dict[str, str] | None = None,
        prefix: list[str] | None = None,
    ) -> PileProcess:
        """Starts the daemon (`prefix`: a command it is run through, e.g. into a cgroup)."""
        log = open(self.log, "ab")  # noqa: SIM115 - lives with the process
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        if not self.measured:
            env.pop("COVERAGE_PROCESS_CONFIG", None)  # coverage.py's, passed to subprocesses
        self.process = subprocess.Popen(
            [
                *(prefix or []),
                sys.executable,
                "-m",
                "pile_controller",
                "--config",
                str(self.config),
            ],
            stdout=log,
            stderr=log,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.process.returncode}:\n{self.logs()}")
            try:
                self.control({"cmd": "status"})
                return self
            except CliError:
                time.sleep(0.02)
        raise RuntimeError(f"daemon did not come up:\n{self.logs()}")

    def control(self, request: dict[str, Any]) -> dict[str, Any]:
        return ask(self.socket, request)

    def sim(self, *args: object) -> None:
        self.control({"cmd": "sim", "args": [str(a) for a in args]})

    def status(self) -> dict[str, Any]:
        return self.control({"cmd": "status"})

    def wait_until(self, check: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> None:
        """Polls `pilectl status` until `check(report)` holds."""
        deadline = time.monotonic() + timeout
        while not check(report := self.status()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"status never matched; last: {report}")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def pilectl(*args: str) -> subprocess.CompletedProcess[str]:
    """`pilectl ARGS`, as a technician runs it; output captured, never raises on failure."""
    return run_module("pile_controller.technician.cli", *args)


def pile_controller(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`pile-controller ARGS` run to completion (check-config, or a start that must fail)."""
    return run_module("pile_controller", *args, env=env)


def run_module(
    module: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )
