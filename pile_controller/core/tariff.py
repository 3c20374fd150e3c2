"""Tariffs and money: flat and time-of-use prices per kWh, Decimal throughout.

A running cost is kept unrounded; it is rounded half-up to the currency's minor unit once, when
the transaction ends, so a session billed in many small meter steps costs what one step would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

# ISO 4217 minor units that are not 2 (the default).
MINOR_UNITS = {
    "BHD": 3,
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "RWF": 0,
    "TND": 3,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
}
WH_PER_KWH = Decimal(1000)


def round_money(amount: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    quantum = Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))
    return amount.quantize(quantum, rounding=rounding)


@dataclass(frozen=True)
class Period:
    start: time
    energy_price: Decimal


@dataclass(frozen=True)
class Tariff:
    tariff_id: str
    currency: str
    energy_price: Decimal
    service_fee: Decimal
    periods: tuple[Period, ...] = ()

    def price_per_kwh(self, local: time) -> Decimal:
        """Energy price of the period `local` falls in (repeating daily) plus the service fee."""
        energy = self.energy_price
        if self.periods:
            ordered = sorted(self.periods, key=lambda p: p.start)
            energy = ordered[-1].energy_price  # before the first start: yesterday's last period
            for period in ordered:
                if period.start <= local:
                    energy = period.energy_price
        return energy + self.service_fee

    def cost_of(self, energy_wh: int, at: datetime, zone: ZoneInfo) -> Decimal:
        local = at.astimezone(zone).time()
        return Decimal(energy_wh) * self.price_per_kwh(local) / WH_PER_KWH

    def as_json(self) -> dict[str, object]:
        return {
            "tariff_id": self.tariff_id,
            "currency": self.currency,
            "energy_price": str(self.energy_price),
            "service_fee": str(self.service_fee),
            "periods": [
                {"start": p.start.strftime("%H:%M"), "energy_price": str(p.energy_price)}
                for p in self.periods
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Tariff:
        """Builds a tariff from a (schema-checked) `tariff` command or its stored copy."""
        periods = data.get("periods") or []
        assert isinstance(periods, list)
        return cls(
            tariff_id=str(data["tariff_id"]),
            currency=str(data["currency"]),
            energy_price=Decimal(str(data["energy_price"])),
            service_fee=Decimal(str(data["service_fee"])),
            periods=tuple(
                Period(time.fromisoformat(str(p["start"])), Decimal(str(p["energy_price"])))
                for p in periods
            ),
        )


FREE = Tariff("free", "CNY", Decimal(0), Decimal(0))
