"""How the core's facts are written on the wire (CONTRACT §3, §4): event data with RFC 3339
times and money as decimal strings, connector statuses with their OCPP 1.6 status. Pure
formatting: no I/O, no paho, so pilectl's status report shares it."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from pile_controller.core.connector import Connector
from pile_controller.core.published import Published
from pile_controller.core.tariff import round_money
from pile_controller.core.times import iso

OCPP_STATUS = {
    "idle": "Available",
    "reserved": "Reserved",
    "authenticating": "Preparing",
    "charging": "Charging",
    "awaiting_payment": "Finishing",
    "unlocked": "Finishing",
    "unavailable": "Unavailable",
    "faulted": "Faulted",
}
SUSPENDED = {"EV": "SuspendedEV", "EVSE": "SuspendedEVSE"}


def compact(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))


def value(v: Any) -> Any:
    """One value as JSON carries it."""
    if isinstance(v, datetime):
        return iso(v)
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, tuple):
        return [value(x) for x in v]
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: value(getattr(v, f.name)) for f in dataclasses.fields(v)}
    return v


def event_data(event: Published) -> dict[str, Any]:
    """The envelope's `data` of an event."""
    return {
        f.name: value(getattr(event, f.name))
        for f in dataclasses.fields(event)
        if f.name not in ("connector", "at")
    }


def ocpp_status(c: Connector) -> str:
    suspended = c.suspended()
    return SUSPENDED[suspended] if suspended else OCPP_STATUS[c.state]


def status_message(c: Connector, now: datetime) -> dict[str, Any]:
    """`P/ID/connectors/N/status`: the connector and its running or last transaction."""
    tx = c.transaction
    fault = next(iter(c.faults.values()), None)
    cost = None
    if tx is not None:
        cost = str(tx.amount if tx.amount is not None else round_money(tx.cost, tx.tariff.currency))
    return {
        "v": 1,
        "connector": c.id,
        "state": c.state,
        "status": ocpp_status(c),
        "reservation_id": c.reservation.reservation_id if c.reservation else None,
        "transaction_id": tx.transaction_id if tx else None,
        "energy_wh": tx.energy_wh if tx else 0,
        "power_w": tx.power_w if tx and not tx.finished else 0.0,
        "cost": cost,
        "currency": tx.tariff.currency if tx else c.ctx.tariff.currency,
        "fault": {"code": str(fault.code), "message": fault.message} if fault else None,
        "cp": str(c.cp),
        "current_limit_a": c.pilot_offer,
        "pp_a": c.pp_a if c.plugged and not c.tethered() else None,
        "ts": iso(now),
    }
