"""Tariffs: flat and time-of-use, Decimal money, rounded once at the end."""

from datetime import UTC, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from pile_controller.core import commands as cmd
from pile_controller.core.tariff import Period, Tariff, round_money
from rig.bench import Bench

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOU = Tariff(
    "T-TOU",
    "CNY",
    Decimal("1.00"),
    Decimal("0.50"),
    (
        Period(time(8, 0), Decimal("1.20")),
        Period(time(22, 0), Decimal("0.30")),
    ),
)


def test_flat_price_is_energy_plus_service_fee() -> None:
    flat = Tariff("T", "CNY", Decimal("1.20"), Decimal("0.80"))
    assert flat.price_per_kwh(time(3, 0)) == Decimal("2.00")


def test_time_of_use_periods_repeat_daily_and_wrap_past_midnight() -> None:
    assert TOU.price_per_kwh(time(8, 0)) == Decimal("1.70")
    assert TOU.price_per_kwh(time(21, 59)) == Decimal("1.70")
    assert TOU.price_per_kwh(time(22, 0)) == Decimal("0.80")
    assert TOU.price_per_kwh(time(3, 0)) == Decimal("0.80")  # still last night's period


def test_periods_are_in_pile_local_time() -> None:
    utc_2300 = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)  # 07:00 next day in Shanghai
    assert TOU.cost_of(1000, utc_2300, SHANGHAI) == Decimal("0.80")
    utc_0100 = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert TOU.cost_of(1000, utc_0100, SHANGHAI) == Decimal("1.70")


def test_rounding_is_half_up_to_the_minor_unit() -> None:
    assert round_money(Decimal("2.345"), "CNY") == Decimal("2.35")
    assert round_money(Decimal("2.344999"), "CNY") == Decimal("2.34")
    assert round_money(Decimal("12.5"), "JPY") == Decimal("13")
    assert round_money(Decimal("1.2345"), "KWD") == Decimal("1.235")


def test_many_small_steps_cost_what_one_step_costs() -> None:
    # 1 Wh steps at 2.00/kWh are 0.002 each: rounding each would bill 0.00 a thousand times.
    b = Bench()
    b.start_reserved_session()
    b.sim.ev_power(1, 3600)  # 1 Wh per second
    b.advance(1000)
    b.do("stop_button")
    assert b.events("transaction.stopped")[0]["cost"]["total"] == "2.00"


def test_session_across_a_period_boundary_prices_each_part_at_its_period() -> None:
    b = Bench(tariff=TOU, pile={"timezone": "Asia/Shanghai"})
    b.now = datetime(2026, 11, 22, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai
    b.poll()
    b.start_reserved_session()
    b.sim.ev_power(1, 2000)
    b.advance(3600)  # 21:30-22:30: 1 kWh at 1.70 and 1 kWh at 0.80
    b.do("stop_button")
    assert b.events("transaction.stopped")[0]["cost"]["total"] == "2.50"


def test_tariff_command_applies_to_the_next_transaction() -> None:
    b = Bench()
    assert (
        b.command(cmd.SetTariff(Tariff("T2", "EUR", Decimal("0.40"), Decimal("0")))) == cmd.ACCEPTED
    )
    b.start_reserved_session()
    b.advance(3600)
    b.do("stop_button")
    assert b.events("transaction.stopped")[0]["cost"] == {
        "total": "2.80",
        "currency": "EUR",
        "tariff_id": "T2",
    }
