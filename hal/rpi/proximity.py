"""A socket's proximity (PP) resistor, read through the pilot's MCP300x: the cable's Rc between
PP and PE, against a pull-up of `pp_pullup_ohm` to the ADC's reference, so that
count / 1023 = Rc / (Rc + pull-up). IEC 61851-1 codes the cable's current in Rc, read with these
tolerance bands (as EV charge controllers document them, e.g. Phoenix Contact's): 1.5 kΩ 13 A,
680 Ω 20 A, 220 Ω 32 A, 100 Ω 63 A. An open PP, or one outside every band (a short, a broken
resistor), is no cable: the pilot stays off.
"""

from __future__ import annotations

import statistics

from hal.rpi.adc import Spi, read_count

FULL_SCALE = 1023
SAMPLES = 5  # their median: one disturbed conversion does not change the cable
# (least ohms, most ohms, amps), each band from its least, inclusive, to its most, exclusive
BANDS: tuple[tuple[float, float, int], ...] = (
    (75.0, 150.0, 63),
    (150.0, 330.0, 32),
    (330.0, 1000.0, 20),
    (1000.0, 2200.0, 13),
)


def ohms(count: int, pullup_ohm: float) -> float | None:
    """Rc for a 10-bit count (None: open, the count at full scale)."""
    if count >= FULL_SCALE:
        return None
    return pullup_ohm * count / (FULL_SCALE - count)


def ampacity(rc_ohm: float | None) -> int | None:
    """The cable's amps for its Rc (None: no cable, or not a cable's resistor)."""
    if rc_ohm is None:
        return None
    return next((amps for least, most, amps in BANDS if least <= rc_ohm < most), None)


class ProximitySampler:
    def __init__(self, spi: Spi, channel: int, pullup_ohm: float):
        self.spi, self.channel, self.pullup_ohm = spi, channel, pullup_ohm

    def amps(self) -> int | None:
        count = statistics.median_low(read_count(self.spi, self.channel) for _ in range(SAMPLES))
        return ampacity(ohms(count, self.pullup_ohm))
