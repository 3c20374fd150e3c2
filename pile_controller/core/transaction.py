"""One charging session's billing facts: what the meter said at its start and since, what it
costs, how it ended and how it was settled. The connector decides when; this adds it up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pile_controller.core.tariff import Tariff, round_money
from pile_controller.core.times import iso


@dataclass
class Transaction:
    transaction_id: str
    id_token: str
    reservation_id: str | None
    started_at: datetime
    meter_start_wh: int
    tariff: Tariff  # the tariff it began with, whatever arrives later
    meter_last_wh: int
    last_sample_at: datetime
    power_w: float = 0.0
    cost: Decimal = Decimal(0)  # unrounded running cost
    stop_reason: str | None = None  # set once a stop was asked for
    stopped_at: datetime | None = None
    amount: Decimal | None = None  # the rounded bill, once stopped
    qr_payload: str | None = None
    settled: str | None = None  # how it was settled: Paid, Free, ReleasedBy...

    @property
    def energy_wh(self) -> int:
        return self.meter_last_wh - self.meter_start_wh

    @property
    def finished(self) -> bool:
        return self.stopped_at is not None

    @property
    def unpaid(self) -> bool:
        return self.finished and self.settled is None

    def metered(self, register_wh: int, power_w: float, at: datetime, zone: ZoneInfo) -> None:
        """A new reading: the energy since the last one is priced at the period it fell in."""
        self.cost += self.tariff.cost_of(register_wh - self.meter_last_wh, at, zone)
        self.meter_last_wh = register_wh
        self.power_w = power_w

    def close(self, now: datetime) -> None:
        """Ends it on the last reading; the running cost is rounded, once, into the bill."""
        self.stopped_at = now
        self.power_w = 0.0
        self.amount = round_money(self.cost, self.tariff.currency)

    def stopped_event(
        self, pile_id: str, connector: int, sign: Callable[[dict[str, Any]], str]
    ) -> dict[str, Any]:
        """The data of `transaction.stopped`, with the receipt signed by the pile's key."""
        assert self.stopped_at is not None and self.amount is not None
        cost = {
            "total": str(self.amount),
            "currency": self.tariff.currency,
            "tariff_id": self.tariff.tariff_id,
        }
        facts = {
            "pile": pile_id,
            "connector": connector,
            "transaction_id": self.transaction_id,
            "id_token": self.id_token,
            "started_at": iso(self.started_at),
            "stopped_at": iso(self.stopped_at),
            "meter_start_wh": self.meter_start_wh,
            "meter_stop_wh": self.meter_last_wh,
            "energy_wh": self.energy_wh,
            "cost": cost,
        }
        return {
            "transaction_id": self.transaction_id,
            "meter_start_wh": self.meter_start_wh,
            "meter_stop_wh": self.meter_last_wh,
            "energy_wh": self.energy_wh,
            "stopped_at": iso(self.stopped_at),
            "reason": self.stop_reason,
            "cost": cost,
            "receipt": {**facts, "sig": sign(facts)},
        }

    def payment_url(self, template: str, pile_id: str, connector: int) -> str:
        return template.format(
            pile_id=pile_id,
            connector=connector,
            transaction_id=self.transaction_id,
            amount=self.amount,
            currency=self.tariff.currency,
        )
