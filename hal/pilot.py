"""The control pilot's language (IEC 61851-1): its states, and how a current offer is written
as the PWM's duty cycle and read back (Annex A). Pure; the HAL drives the PWM, the core decides
the offer.

| duty cycle | the vehicle may draw |
|---|---|
| 10 % .. 85 % | duty × 0.6 A (6 A .. 51 A) |
| 85 % .. 96 % | (duty − 64) × 2.5 A (up to 80 A) |

Written the other way, for an offer of A amperes: A / 0.6 % for 6..51 A, A / 2.5 + 64 % for
51..80 A. The two formulas do not meet at 51 A: an offer just above 51 A reads back a little
lower than offered (51.5 A is written 84.6 %, which reads 50.76 A). That errs the safe way: a
vehicle never reads more than the pile offers, which a test holds for every offer.
"""

from __future__ import annotations

from enum import StrEnum

MIN_A = 6.0
MAX_A = 80.0
PERIOD_NS = 1_000_000  # 1 kHz


class CpState(StrEnum):
    A = "A"  # no vehicle (+12 V)
    B = "B"  # vehicle connected, not asking for power (+9 V)
    C = "C"  # vehicle asks for power (+6 V)
    D = "D"  # asks for power, with ventilation (+3 V)
    E = "E"  # no pilot: a short, or the pile has no power (0 V)
    F = "F"  # the pile says it is not available, or the vehicle's diode is missing (-12 V)


MEANING = {
    CpState.A: "no vehicle",
    CpState.B: "vehicle connected",
    CpState.C: "vehicle asks for power",
    CpState.D: "asks for power, with ventilation",
    CpState.E: "no pilot (a short, or no power)",
    CpState.F: "-12 V: not available, or no diode",
}
ASKS_FOR_POWER = frozenset({CpState.C})  # and D, where the connector ventilates
ASKS_WITH_VENTILATION = frozenset({CpState.D})
FAULTY = frozenset({CpState.E, CpState.F})  # PilotFault while a session runs or the PWM is on
CLEARS_FAULT = frozenset({CpState.A, CpState.B})


def asks_for_power(state: CpState, ventilation: bool) -> bool:
    return state in ASKS_FOR_POWER or (ventilation and state in ASKS_WITH_VENTILATION)


def duty_for(amps: float) -> float:
    """The duty cycle (per cent) that offers `amps`; ValueError outside 6..80 A."""
    if not MIN_A <= amps <= MAX_A:
        raise ValueError(f"a pilot offer is 6..80 A, not {amps:g} A")
    return amps / 0.6 if amps <= 51.0 else amps / 2.5 + 64.0


def amps_for(duty: float) -> float | None:
    """What a vehicle may draw at `duty` per cent; None where the duty offers no current
    (under 8 %: digital communication or none; over 97 %: not a valid offer)."""
    if duty < 8.0 or duty > 97.0:
        return None
    if duty < 10.0:
        return MIN_A
    if duty <= 85.0:
        return duty * 0.6
    return min((duty - 64.0) * 2.5, MAX_A)


def duty_ns(duty: float) -> int:
    """The PWM's `duty_cycle` in nanoseconds of the 1 kHz period, rounded down: the offer the
    hardware makes is never above the one decided."""
    return int(PERIOD_NS * duty / 100.0)
