"""IEC 61851-1 Annex A: a current offer as the pilot's duty cycle, and back."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.pilot import PERIOD_NS, amps_for, duty_for, duty_ns

offers = st.floats(6.0, 80.0, allow_nan=False)


@pytest.mark.parametrize(
    ("amps", "duty"),
    [(6, 10.0), (10, 16.667), (16, 26.667), (32, 53.333), (51, 85.0), (63, 89.2), (80, 96.0)],
)
def test_the_standards_table(amps: float, duty: float) -> None:
    assert duty_for(amps) == pytest.approx(duty, abs=0.001)


@given(offers)
def test_a_vehicle_never_reads_more_than_the_offer(amps: float) -> None:
    read = amps_for(duty_for(amps))
    assert read is not None and read <= amps + 1e-9


@given(offers)
def test_what_it_reads_is_close_to_the_offer(amps: float) -> None:
    read = amps_for(duty_for(amps))
    # Only where the two formulas do not meet (51..52.5 A) does a vehicle read less.
    assert read is not None and amps - read <= (1.5 if 51 < amps < 52.5 else 1e-9)


@given(offers)
def test_the_hardwares_duty_in_nanoseconds_never_offers_more(amps: float) -> None:
    written = duty_ns(duty_for(amps)) / PERIOD_NS * 100
    read = amps_for(written)
    assert read is not None and read <= amps + 1e-9


@pytest.mark.parametrize("amps", [0, 5.9, 80.1, -6])
def test_no_offer_outside_6_to_80_amps(amps: float) -> None:
    with pytest.raises(ValueError, match="6..80 A"):
        duty_for(amps)


@pytest.mark.parametrize("duty", [0.0, 5.0, 7.9, 97.1, 100.0])
def test_duties_that_offer_nothing(duty: float) -> None:
    assert amps_for(duty) is None


def test_8_to_10_percent_is_6_amps() -> None:
    assert amps_for(8.0) == amps_for(9.9) == 6.0
