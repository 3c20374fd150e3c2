"""One charging session's billing facts: what the meter said at its start and since, what it
costs, how it ended and how it was settled. The connector decides when; this adds it up."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pile_controller.core.published import Cost, TransactionStopped
from pile_controller.core.tariff import Tariff, round_money
from pile_controller.core.times import iso, parse_iso


def transaction_ids(pile_id: str) -> Callable[[], str]:
    """The pile's transaction ids: its own id, then 64 random bits (unique across restarts
    without a counter to journal)."""
    return lambda: f"{pile_id}-{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class Cap:
    """What the driver approved (CONTRACT 12): the session stops at the first reading that
    reaches either, and the bill never passes `max_cost` nor prices energy past `max_energy_wh`
    (what one meter poll overshoots is the operator's)."""

    max_cost: Decimal | None = None
    max_energy_wh: int | None = None

    def __post_init__(self) -> None:
        if self.max_cost is not None and self.max_cost <= 0:
            raise ValueError("max_cost must be above zero")
        if self.max_energy_wh is not None and self.max_energy_wh <= 0:
            raise ValueError("max_energy_wh must be above zero")

    def as_json(self) -> dict[str, Any]:
        return {
            "max_cost": None if self.max_cost is None else str(self.max_cost),
            "max_energy_wh": self.max_energy_wh,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> Cap | None:
        if d is None:
            return None
        cost = d["max_cost"]
        return cls(None if cost is None else Decimal(cost), d["max_energy_wh"])


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
    meter: dict[str, str | None] | None = None  # MeterId.as_json() of its start reading
    # The backend's word on the running cost and price, for the screen only (never billed, not
    # journaled: the next word after a restart shows again).
    shown_cost: Decimal | None = None
    price_text: str | None = None
    cap: Cap | None = None

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
        """A new reading: the energy since the last one is priced at the period it fell in
        (none of it past an energy cap)."""
        energy = self._billable(register_wh) - self._billable(self.meter_last_wh)
        self.cost += self.tariff.cost_of(energy, at, zone)
        self.meter_last_wh = register_wh
        self.power_w = power_w

    def _billable(self, register_wh: int) -> int:
        if self.cap is None or self.cap.max_energy_wh is None:
            return register_wh
        return min(register_wh, self.meter_start_wh + self.cap.max_energy_wh)

    def limit_reached(self) -> str | None:
        """The stop reason once the driver's cap is reached, else None."""
        cap = self.cap
        if cap is None:
            return None
        if cap.max_energy_wh is not None and self.energy_wh >= cap.max_energy_wh:
            return "EnergyLimitReached"
        if cap.max_cost is not None and self.cost >= cap.max_cost:
            return "CostLimitReached"
        return None

    def close(self, now: datetime) -> None:
        """Ends it on the last reading; the running cost is rounded, once, into the bill."""
        self.stopped_at = now
        self.power_w = 0.0
        self.amount = self.capped(round_money(self.cost, self.tariff.currency))

    def capped(self, amount: Decimal) -> Decimal:
        """`amount`, or what the driver approved if that is less (whoever priced it)."""
        if self.cap is None or self.cap.max_cost is None:
            return amount
        # A cap in finer units than the currency's rounds down: never more than approved.
        return min(amount, round_money(self.cap.max_cost, self.tariff.currency, ROUND_DOWN))

    def stopped_event(
        self, pile_id: str, connector: int, at: datetime, sign: Callable[[dict[str, Any]], str]
    ) -> TransactionStopped:
        """`transaction.stopped`, with the receipt: the billing facts as the pile's key signs
        them (their text is what is signed, so they are written here as they go on the wire)."""
        assert self.stopped_at is not None and self.amount is not None
        assert self.stop_reason is not None
        cost = Cost(self.amount, self.tariff.currency, self.tariff.tariff_id)
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
            "cost": {
                "total": str(cost.total),
                "currency": cost.currency,
                "tariff_id": cost.tariff_id,
            },
        }
        if self.meter is not None:  # none only for a session journaled before receipts had it
            facts["meter"] = self.meter
        if self.cap is not None:  # why the bill may be less than the energy's price
            facts["cap"] = self.cap.as_json()
        return TransactionStopped(
            connector,
            at,
            transaction_id=self.transaction_id,
            meter_start_wh=self.meter_start_wh,
            meter_stop_wh=self.meter_last_wh,
            energy_wh=self.energy_wh,
            stopped_at=self.stopped_at,
            reason=self.stop_reason,
            cost=cost,
            receipt={**facts, "sig": sign(facts)},
        )

    def to_json(self) -> dict[str, Any]:
        """Everything needed to finish and bill it after a crash (journaled with each step)."""
        return {
            "transaction_id": self.transaction_id,
            "id_token": self.id_token,
            "reservation_id": self.reservation_id,
            "started_at": iso(self.started_at),
            "meter_start_wh": self.meter_start_wh,
            "tariff": self.tariff.as_json(),
            "meter_last_wh": self.meter_last_wh,
            "last_sample_at": iso(self.last_sample_at),
            "cost": str(self.cost),
            "stop_reason": self.stop_reason,
            "stopped_at": iso(self.stopped_at) if self.stopped_at else None,
            "amount": str(self.amount) if self.amount is not None else None,
            "qr_payload": self.qr_payload,
            "settled": self.settled,
            "meter": self.meter,
            "cap": self.cap.as_json() if self.cap else None,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Transaction:
        return cls(
            transaction_id=d["transaction_id"],
            id_token=d["id_token"],
            reservation_id=d["reservation_id"],
            started_at=parse_iso(d["started_at"]),
            meter_start_wh=d["meter_start_wh"],
            tariff=Tariff.from_json(d["tariff"]),
            meter_last_wh=d["meter_last_wh"],
            last_sample_at=parse_iso(d["last_sample_at"]),
            cost=Decimal(d["cost"]),
            stop_reason=d["stop_reason"],
            stopped_at=parse_iso(d["stopped_at"]) if d["stopped_at"] else None,
            amount=Decimal(d["amount"]) if d["amount"] is not None else None,
            qr_payload=d["qr_payload"],
            settled=d["settled"],
            meter=d.get("meter"),
            cap=Cap.from_json(d.get("cap")),
        )

    def payment_url(self, template: str, pile_id: str, connector: int) -> str:
        return template.format(
            pile_id=pile_id,
            connector=connector,
            transaction_id=self.transaction_id,
            amount=self.amount,
            currency=self.tariff.currency,
        )
