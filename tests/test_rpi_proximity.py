"""A socket's PP resistor read through the MCP300x (hal/rpi/proximity.py): IEC 61851-1's
resistors and their tolerance bands, an open or shorted PP as no cable, one disturbed
conversion ignored."""

from __future__ import annotations

import pytest

from hal.rpi.proximity import FULL_SCALE, ProximitySampler, ampacity, ohms


def count_for(rc: float, pullup: float = 1000.0) -> int:
    return round(FULL_SCALE * rc / (rc + pullup))


@pytest.mark.parametrize(
    ("rc", "amps"),
    [
        (1500, 13),
        (1500 * 0.97, 13),
        (1500 * 1.03, 13),
        (680, 20),
        (220, 32),
        (100, 63),
        (50, None),  # a short
        (5000, None),  # not a cable's resistor
    ],
)
def test_each_cable_by_its_resistor(rc: float, amps: int | None) -> None:
    for pullup in (330.0, 1000.0, 2700.0):
        assert ampacity(ohms(count_for(rc, pullup), pullup)) == amps


def test_an_open_pp_is_no_cable() -> None:
    assert ohms(FULL_SCALE, 1000.0) is None and ampacity(None) is None


class Spi:
    def __init__(self, counts: list[int]):
        self.counts = counts

    def xfer2(self, data: list[int]) -> list[int]:
        count = self.counts.pop(0)
        return [0, count >> 8, count & 0xFF]


def test_one_disturbed_conversion_does_not_change_the_cable() -> None:
    reads = [count_for(680), count_for(680), 0, count_for(680), FULL_SCALE]
    assert ProximitySampler(Spi(reads), 1, 1000.0).amps() == 20
