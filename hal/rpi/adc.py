"""The control pilot's voltage through an MCP3004/MCP3008 ADC over SPI (`spidev`), and what it
says: the pilot state A..F and whether the vehicle's diode is there (CONTRACT 9.3).

Each reading takes a burst of at least 50 samples, enough to catch both levels of the 1 kHz
PWM: the highest sample is the high level, which gives the state, the lowest the low level,
which must be -12 V while the PWM runs (the vehicle's diode passes only the positive half).
A state changes only once the high level is past the band's edge by `HYSTERESIS_V`: a pilot
sitting on a threshold does not flap between two states.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hal.pilot import CpState

BURST = 64
HYSTERESIS_V = 0.4
# The least high level of each state, from the highest: IEC 61851-1's +12, +9, +6, +3, 0 V with
# their tolerance bands meeting half way.
BANDS: tuple[tuple[CpState, float], ...] = (
    (CpState.A, 10.5),
    (CpState.B, 7.5),
    (CpState.C, 4.5),
    (CpState.D, 1.5),
)
F_BELOW_V = -10.5  # a high level this low is -12 V: state F
DIODE_BELOW_V = -10.5  # while the PWM runs, the low level must reach -12 V


class Spi(Protocol):
    def xfer2(self, data: list[int]) -> list[int]: ...


@dataclass(frozen=True)
class Scale:
    """The front end's divider: volts = count x volts_per_count + offset_v (10-bit count)."""

    volts_per_count: float
    offset_v: float

    def volts(self, count: int) -> float:
        return count * self.volts_per_count + self.offset_v


def read_count(spi: Spi, channel: int) -> int:
    """One 10-bit conversion of `channel`, single-ended (MCP3004/3008 datasheet, 5.0)."""
    reply = spi.xfer2([0x01, (0x08 | channel) << 4, 0x00])
    return ((reply[1] & 0x03) << 8) | reply[2]


@dataclass(frozen=True)
class Levels:
    high_v: float
    low_v: float


def levels(samples: Sequence[float]) -> Levels:
    return Levels(max(samples), min(samples))


def state_of(high_v: float, before: CpState | None = None) -> CpState:
    """The state the high level shows, staying with `before` until past its band by the
    hysteresis."""
    if before is not None and _within(before, high_v):
        return before
    if high_v <= F_BELOW_V:
        return CpState.F
    for state, least in BANDS:
        if high_v >= least:
            return state
    return CpState.E


def _within(state: CpState, high_v: float) -> bool:
    """Whether `high_v` is still `state` once the bands are widened by the hysteresis."""
    edges = dict(BANDS)
    if state is CpState.F:
        return high_v <= F_BELOW_V + HYSTERESIS_V
    if state is CpState.E:
        return F_BELOW_V - HYSTERESIS_V < high_v < edges[CpState.D] + HYSTERESIS_V
    order = [s for s, _ in BANDS]
    i = order.index(state)
    upper = edges[order[i - 1]] if i > 0 else float("inf")
    return edges[state] - HYSTERESIS_V <= high_v < upper + HYSTERESIS_V


def diode_ok(low_v: float) -> bool:
    """While the PWM runs: the low level reaches -12 V only through the vehicle's diode."""
    return low_v <= DIODE_BELOW_V


class PilotSampler:
    """Samples one connector's pilot and classifies it; reports only changes."""

    def __init__(self, spi: Spi, channel: int, scale: Scale):
        self.spi, self.channel, self.scale = spi, channel, scale
        self.state: CpState | None = None

    def sample(self) -> Levels:
        return levels([self.scale.volts(read_count(self.spi, self.channel)) for _ in range(BURST)])

    def classify(self, found: Levels, pwm_on: bool) -> tuple[CpState, bool]:
        """(the state, the diode's presence: always True while the PWM is off)."""
        self.state = state_of(found.high_v, self.state)
        return self.state, (diode_ok(found.low_v) if pwm_on else True)
