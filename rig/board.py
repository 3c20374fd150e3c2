"""A fake Raspberry Pi for the daemon in a subprocess (`hal.driver = "rpi"`): the fake
RPi.GPIO, spidev and evdev of tests/fakes first on its path, a temporary folder for
/sys/class/pwm, and the world around the board (the contactor's mirror contact, the lock's
feedback, the vehicle on the pilot, the keypad) moved from the test through
tests/fakes/fakeboard.py's socket."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

FAKES = Path(__file__).resolve().parent.parent / "tests" / "fakes"
HIGH, LOW = 1, 0
# config.rpi.toml's first connector
RELAY, RELAY_FEEDBACK, LOCK, UNLOCK, LOCK_FEEDBACK, STOP = 5, 6, 13, 22, 26, 21
ESTOP, RCD = 4, 17
KEYPAD = "/dev/input/fake-keypad-1"
# The contactor's mirror contact follows it; the lock's coils move its feedback.
WIRING = [
    [RELAY, HIGH, RELAY_FEEDBACK, HIGH],
    [RELAY, LOW, RELAY_FEEDBACK, LOW],
    [LOCK, HIGH, LOCK_FEEDBACK, HIGH],
    [UNLOCK, HIGH, LOCK_FEEDBACK, LOW],
]
# Pilot voltages (high level, low level) a vehicle shows; its diode passes only the high half.
VEHICLE = {"A": (12.0, 12.0), "B": (9.0, -12.0), "C": (6.0, -12.0), "E": (0.0, 0.0)}


def hal_section(pwm_root: Path, lock_pulse_ms: int = 50) -> str:
    return "\n".join(
        [
            'driver = "rpi"',
            "relay_feedback_ms = 200",
            "lock_feedback_ms = 1000",
            f'pwm_root = "{pwm_root}"',
            f"lock_pulse_ms = {lock_pulse_ms}",
            f"estop = {{ pin = {ESTOP}, active_low = true }}",
            f"rcd_fault = {{ pin = {RCD} }}",
        ]
    )


CONNECTOR = f"""\
pins = {{ relay = {RELAY}, relay_feedback = {RELAY_FEEDBACK}, lock = {LOCK}, unlock = {UNLOCK}, \
lock_feedback = {LOCK_FEEDBACK}, stop_button = {{ pin = {STOP}, active_low = true }} }}
pilot = {{ pwm_chip = 0, pwm_channel = 0, spi_bus = 0, spi_device = 0, adc_channel = 0 }}
keypad = {{ device = "{KEYPAD}" }}
"""


def pwm_folder(root: Path, channels: int = 1) -> Path:
    """A stand-in for /sys/class/pwm: chip 0 with `channels` channels already exported."""
    for channel in range(channels):
        folder = root / "pwmchip0" / f"pwm{channel}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("period", "duty_cycle", "enable"):
            (folder / name).write_text("0\n")
    (root / "pwmchip0" / "export").write_text("")
    return root


class FakeBoard:
    def __init__(self, workdir: Path, **start: Any):
        """`start`: what the board JSON holds beyond the wiring (`busy`, `spi`, `levels`)."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.pwm_root = pwm_folder(workdir / "pwm")
        self.socket = workdir / "board.sock"
        self.file = workdir / "board.json"
        self.file.write_text(json.dumps({"socket": str(self.socket), "wires": WIRING, **start}))
        self._conn: Any = None

    def env(self) -> dict[str, str]:
        path = os.pathsep.join([str(FAKES), os.environ.get("PYTHONPATH", "")])
        return {"PYTHONPATH": path, "FAKE_BOARD": str(self.file)}

    def duty_ns(self) -> int:
        """The pilot's duty cycle as the daemon last wrote it (a read that meets the file
        truncated for a write, as sysfs never shows, is read again)."""
        while not (text := (self.pwm_root / "pwmchip0" / "pwm0" / "duty_cycle").read_text()):
            pass
        return int(text)

    # --- the world around the board --------------------------------------------------------

    def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        if self._conn is None:
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(str(self.socket))
            self._conn = sock.makefile("rwb")
        self._conn.write(json.dumps({"op": op, **fields}).encode() + b"\n")
        self._conn.flush()
        answer: dict[str, Any] = json.loads(self._conn.readline())
        if not answer.pop("ok"):
            raise RuntimeError(answer["error"])
        return answer

    def drive(self, pin: int, level: int) -> None:
        self.ask("drive", pin=pin, level=level)
        self.ask("settle")

    def level(self, pin: int) -> int:
        return int(self.ask("level", pin=pin)["level"])

    def vehicle(self, state: str) -> None:
        high, low = VEHICLE[state]
        self.ask("pilot", bus=0, device=0, channel=0, high=high, low=low)

    def cable(self, ohms: float | None, channel: int = 1, pullup: float = 1000.0) -> None:
        """A socket's cable, by its PP resistor (None: no cable, PP open)."""
        self.ask("resistor", bus=0, device=0, channel=channel, ohms=ohms, pullup=pullup)

    def press_stop_button(self) -> None:
        self.drive(STOP, LOW)  # active low: a press counts at once, debouncing is on release
        self.drive(STOP, HIGH)

    def type_code(self, digits: str) -> None:
        codes = [KEY_CODES[d] for d in digits] + [KEY_ENTER]
        self.ask("press", path=KEYPAD, codes=codes)

    def weld(self) -> None:
        """The contactor's contacts stick: its mirror contact no longer follows an opening."""
        self.ask("unwire", out=RELAY, when=LOW)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


KEY_CODES = {"0": 11, **{str(d): d + 1 for d in range(1, 10)}}  # linux/input-event-codes.h
KEY_ENTER = 28
