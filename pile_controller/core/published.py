"""What the pile tells the backend happened: one frozen dataclass per event type of CONTRACT §4,
in the core's own types (datetimes, Decimal money). How they are written on the wire (RFC 3339
times, money as decimal strings, the envelope) is `backend/wire.py`'s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar


@dataclass(frozen=True)
class Published:
    """Every event: the connector it concerns (None: the pile) and when it happened."""

    type: ClassVar[str]
    connector: int | None
    at: datetime


@dataclass(frozen=True)
class ReservationAccepted(Published):
    type: ClassVar[str] = "reservation.accepted"
    reservation_id: str
    expires_at: datetime


@dataclass(frozen=True)
class ReservationEnded(Published):
    type: ClassVar[str] = "reservation.ended"
    reservation_id: str
    reason: str  # Expired | Cancelled | Used | Faulted | Unavailable | Replaced


@dataclass(frozen=True)
class AuthorizationRejected(Published):
    type: ClassVar[str] = "authorization.rejected"
    reason: str  # WrongCode | LockedOut | NoReservation (never the code itself)
    attempts_left: int


@dataclass(frozen=True)
class TransactionStarted(Published):
    type: ClassVar[str] = "transaction.started"
    transaction_id: str
    reservation_id: str | None
    id_token: str
    meter_start_wh: int
    started_at: datetime


@dataclass(frozen=True)
class MeterValues(Published):
    type: ClassVar[str] = "meter.values"
    transaction_id: str | None
    energy_register_wh: int
    power_w: float
    voltage_v: tuple[float, ...]
    current_a: tuple[float, ...]
    context: str  # Transaction.Begin | Sample.Periodic | Transaction.End


@dataclass(frozen=True)
class Cost:
    total: Decimal
    currency: str
    tariff_id: str


@dataclass(frozen=True)
class TransactionStopped(Published):
    type: ClassVar[str] = "transaction.stopped"
    transaction_id: str
    meter_start_wh: int
    meter_stop_wh: int
    energy_wh: int
    stopped_at: datetime
    reason: str
    cost: Cost
    receipt: dict[str, Any]  # the billing facts as signed, with "sig"


@dataclass(frozen=True)
class PaymentRequested(Published):
    type: ClassVar[str] = "payment.requested"
    transaction_id: str
    amount: Decimal
    currency: str
    qr_payload: str


@dataclass(frozen=True)
class PaymentSettled(Published):
    type: ClassVar[str] = "payment.settled"
    transaction_id: str
    amount: Decimal
    currency: str
    how: str  # Paid | Free | ReleasedByPolicy | ReleasedByTechnician | ReleasedByBackend


@dataclass(frozen=True)
class CableUnlocked(Published):
    type: ClassVar[str] = "cable.unlocked"
    transaction_id: str | None


@dataclass(frozen=True)
class FaultRaised(Published):
    type: ClassVar[str] = "fault.raised"
    code: str
    message: str


@dataclass(frozen=True)
class FaultCleared(Published):
    type: ClassVar[str] = "fault.cleared"
    code: str
    message: str


@dataclass(frozen=True)
class AvailabilityChanged(Published):
    type: ClassVar[str] = "availability.changed"
    available: bool


@dataclass(frozen=True)
class FirmwareStatus(Published):
    type: ClassVar[str] = "firmware.status"
    status: str  # events.FirmwareProgress's
    version: str | None
    reason: str | None


@dataclass(frozen=True)
class DiagnosticsStatus(Published):
    type: ClassVar[str] = "diagnostics.status"
    status: str  # Uploading | Uploaded | UploadFailed
    url: str
    reason: str | None
