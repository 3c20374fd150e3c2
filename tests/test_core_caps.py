"""A cap the driver approved (CONTRACT 12): the relay opens at the first reading that reaches
it, and the bill never passes what they approved."""

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pile_controller.backend.mqtt.commands import Security, decode
from pile_controller.core import commands as cmd
from pile_controller.core.times import iso
from pile_controller.core.transaction import Cap
from rig.bench import Bench

# The bench's tariff is 2.00 CNY per kWh and its vehicle draws 7 kW (about 1.94 Wh a second).
PRICE_PER_KWH = Decimal("2.00")


def capped_session(cap: Cap) -> Bench:
    b = Bench()
    b.do("plug")
    assert b.command(cmd.RemoteStart(1, "app-user", cap=cap)) == cmd.ACCEPTED
    assert b.relay_closed()
    return b


def run_until_stopped(b: Bench, poll_s: int = 1, limit_s: int = 7200) -> int:
    """Seconds of charging until the relay opened, the meter read every `poll_s`."""
    for second in range(0, limit_s, poll_s):
        b.advance(poll_s, step=poll_s)
        if not b.relay_closed():
            return second + poll_s
    raise AssertionError("the cap never stopped the session")


def test_an_energy_cap_opens_the_relay_at_the_first_reading_that_reaches_it() -> None:
    b = capped_session(Cap(max_energy_wh=1000))
    seconds = run_until_stopped(b)
    assert 500 <= seconds <= 520  # 1000 Wh at 7 kW
    stopped = b.events("transaction.stopped")[0]
    assert stopped["reason"] == "EnergyLimitReached"
    assert 1000 <= stopped["energy_wh"] <= 1000 + 2  # energy is the meter's, overshoot and all
    # ... but the driver pays for the kWh they approved, not the poll's overshoot.
    assert stopped["cost"]["total"] == "2.00"
    assert stopped["receipt"]["cap"] == {"max_cost": None, "max_energy_wh": 1000}
    assert b.c(1).state == "awaiting_payment" and b.cable_locked()
    assert b.events("payment.requested")[0]["amount"] == "2.00"


def test_a_cost_cap_stops_the_session_and_never_bills_more_than_it() -> None:
    b = capped_session(Cap(max_cost=Decimal("1.50")))
    run_until_stopped(b, poll_s=7)  # a slow meter: its last poll overshoots the cap
    stopped = b.events("transaction.stopped")[0]
    assert stopped["reason"] == "CostLimitReached"
    assert stopped["energy_wh"] * PRICE_PER_KWH / 1000 > Decimal("1.50")  # it did overshoot
    assert stopped["cost"]["total"] == "1.50"
    assert b.pay() == cmd.ACCEPTED and not b.cable_locked()


def test_a_cost_cap_finer_than_the_currency_rounds_down() -> None:
    b = capped_session(Cap(max_cost=Decimal("0.999")))
    run_until_stopped(b)
    assert b.events("transaction.stopped")[0]["cost"]["total"] == "0.99"


def test_a_session_stopped_before_its_cap_is_billed_as_usual() -> None:
    b = capped_session(Cap(max_cost=Decimal("100"), max_energy_wh=50_000))
    b.advance(60)
    b.do("stop_button")
    stopped = b.events("transaction.stopped")[0]
    assert stopped["reason"] == "Local"
    expected = (Decimal(stopped["energy_wh"]) * PRICE_PER_KWH / 1000).quantize(Decimal("0.01"))
    assert Decimal(stopped["cost"]["total"]) == expected


def test_the_cap_survives_a_crash() -> None:
    b = capped_session(Cap(max_energy_wh=120))
    b.advance(60)  # 116 Wh
    b.sim.meters[1].register_wh += 50  # what flowed after the last journaled reading
    b = b.restarted()
    b.advance(1)
    stopped = b.events("transaction.stopped")
    assert [e["reason"] for e in stopped] == ["PowerLoss"]  # billed at the next start
    assert stopped[0]["energy_wh"] >= 166 and stopped[0]["cost"]["total"] == "0.24"


def test_a_cap_of_zero_or_below_cannot_exist() -> None:
    for cap in ({"max_cost": Decimal(0)}, {"max_energy_wh": 0}, {"max_cost": Decimal("-1")}):
        with pytest.raises(ValueError):
            Cap(**cap)  # type: ignore[arg-type]


NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
OPEN = Security(None, timedelta(seconds=300))


def start_command(**extra: object) -> bytes:
    body = {"v": 1, "id": "s-1", "ts": iso(NOW), "connector": 1, "id_token": "app"} | extra
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "extra",
    [
        {"max_cost": "0"},
        {"max_cost": "0.000"},
        {"max_cost": "-1"},
        {"max_cost": 5},
        {"max_energy_wh": 0},
        {"max_energy_wh": -5},
        {"max_energy_wh": 1.5},
    ],
)
def test_the_start_command_refuses_a_cap_of_zero_or_below(extra: dict[str, object]) -> None:
    decoded = decode("start", start_command(**extra), NOW, OPEN)
    assert decoded.refusal == cmd.rejected("InvalidPayload") and decoded.command is None


def test_the_start_command_carries_the_cap_to_the_core() -> None:
    decoded = decode("start", start_command(max_cost="12.5", max_energy_wh=20_000), NOW, OPEN)
    assert decoded.command == cmd.RemoteStart(1, "app", None, Cap(Decimal("12.5"), 20_000))
    plain = decode("start", start_command(), NOW, OPEN)
    assert plain.command == cmd.RemoteStart(1, "app")


def test_a_capped_receipt_verifies_and_says_its_cap() -> None:
    from pile_controller.technician.receipts import check
    from rig.bench import KEY

    b = capped_session(Cap(max_cost=Decimal("1.50")))
    run_until_stopped(b)
    receipt = b.events("transaction.stopped")[0]["receipt"]
    line = check(json.dumps(receipt), base64.b64decode(KEY.public_b64))
    assert line.startswith("receipt OK") and "1.50 CNY (the driver's cap: 1.50 CNY" in line
