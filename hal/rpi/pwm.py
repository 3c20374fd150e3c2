"""The control pilot's 1 kHz signal from a kernel PWM channel (sysfs, `/sys/class/pwm`), never
software PWM: the kernel's hardware timer keeps it exact whatever the CPU is doing.

The channel stays enabled: constant +12 V (no offer) is written as a duty cycle of 100 %,
-12 V (state F) as 0 %, an offer as its Annex A duty cycle. The reference front end turns the
GPIO's high into +12 V and its low into -12 V, so a disabled channel, which idles low, would
read as F; that is also what the pilot shows if the daemon dies and the kernel's PWM is reset.
"""

from __future__ import annotations

import time
from pathlib import Path

from hal.pilot import PERIOD_NS, duty_ns


class PwmError(Exception):
    """The PWM channel cannot be used; the message names its folder in one line, `setting`
    the pilot's key at fault (`pwm_chip` or `pwm_channel`)."""

    def __init__(self, message: str, setting: str = "pwm_channel"):
        super().__init__(message)
        self.setting = setting


class SysfsPwm:
    EXPORT_WAIT_S = 1.0  # udev gives the exported channel's files their owner after a moment

    def __init__(self, root: Path, chip: int, channel: int):
        self.chip_dir = root / f"pwmchip{chip}"
        self.dir = self.chip_dir / f"pwm{channel}"
        self.channel = channel
        self.duty = -1  # what was last written: nothing yet

    def open(self) -> None:
        """Exports the channel if it is not yet, sets the 1 kHz period and +12 V, enables it."""
        if not self.chip_dir.is_dir():
            raise PwmError(
                f"{self.chip_dir}: no such PWM chip (is the pwm overlay enabled?)", "pwm_chip"
            )
        if not self.dir.is_dir():
            self._write(self.chip_dir / "export", self.channel)
            deadline = time.monotonic() + self.EXPORT_WAIT_S
            while not (self.dir / "duty_cycle").exists():
                if time.monotonic() > deadline:
                    raise PwmError(f"{self.dir}: not there after export")
                time.sleep(0.01)
        # The duty cycle may never exceed the period: a channel left with a longer period by
        # someone else gets its duty cycle lowered first.
        self._write(self.dir / "duty_cycle", 0)
        self._write(self.dir / "period", PERIOD_NS)
        self.constant_high()
        self._write(self.dir / "enable", 1)

    def offer(self, duty_percent: float) -> None:
        self._set(duty_ns(duty_percent))

    def constant_high(self) -> None:
        """+12 V: no current offered (states A and B are read on it)."""
        self._set(PERIOD_NS)

    def constant_low(self) -> None:
        """-12 V: state F, the pile is not available."""
        self._set(0)

    def _set(self, duty: int) -> None:
        if duty != self.duty:
            self._write(self.dir / "duty_cycle", duty)
            self.duty = duty

    def _write(self, path: Path, value: int) -> None:
        try:
            path.write_text(f"{value}\n")
        except OSError as exc:
            raise PwmError(f"{path}: {exc.strerror or exc}") from None
