"""A stand-in for py-spidev on a machine with no SPI (tests only): an MCP3008 on each device,
its channels showing the pilot voltage a test sets with `set_pilot`. Each conversion gives the
high and the low level in turn, as a burst taken across the 1 kHz PWM sees them."""

from __future__ import annotations

import threading

VOLTS_PER_COUNT, OFFSET_V = 0.0293, -15.0  # the reference divider (config's defaults)

devices: set[tuple[int, int]] = {(0, 0), (0, 1)}  # the /dev/spidevB.D there are
_volts: dict[tuple[int, int, int], tuple[float, float]] = {}  # (bus, device, channel) -> levels
_counts: dict[tuple[int, int, int], int] = {}  # a channel that reads a fixed count (PP)
_lock = threading.Lock()


def reset() -> None:
    with _lock:
        _volts.clear()
        _counts.clear()


def set_pilot(bus: int, device: int, channel: int, high_v: float, low_v: float) -> None:
    with _lock:
        _volts[(bus, device, channel)] = (high_v, low_v)


def set_resistor(bus: int, device: int, channel: int, ohms: float | None, pullup: float) -> None:
    """A resistor to ground on `channel` below a pull-up to the reference (a socket's PP);
    None: open."""
    count = 1023 if ohms is None else round(1023 * ohms / (ohms + pullup))
    with _lock:
        _counts[(bus, device, channel)] = count


def count_of(volts: float) -> int:
    return max(0, min(1023, round((volts - OFFSET_V) / VOLTS_PER_COUNT)))


class SpiDev:
    def __init__(self) -> None:
        self.mode = 0
        self.max_speed_hz = 0
        self.where: tuple[int, int] | None = None
        self.n = 0

    def open(self, bus: int, device: int) -> None:
        if (bus, device) not in devices:
            raise FileNotFoundError(2, "No such file or directory")
        self.where = (bus, device)

    def xfer2(self, data: list[int]) -> list[int]:
        if self.where is None:
            raise OSError(9, "Bad file descriptor")
        channel = (data[1] >> 4) & 0x07
        with _lock:
            high, low = _volts.get((*self.where, channel), (12.0, 12.0))
            fixed = _counts.get((*self.where, channel))
        self.n += 1
        count = fixed if fixed is not None else count_of(high if self.n % 2 else low)
        return [0, (count >> 8) & 0x03, count & 0xFF]

    def close(self) -> None:
        self.where = None
