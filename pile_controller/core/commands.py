"""Backend commands as the core sees them: already parsed, schema-checked and authenticated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pile_controller.core.tariff import Tariff
from pile_controller.core.transaction import Cap


class ReplyStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    OCCUPIED = "Occupied"
    FAULTED = "Faulted"
    UNAVAILABLE = "Unavailable"
    SCHEDULED = "Scheduled"


@dataclass(frozen=True)
class Reply:
    status: ReplyStatus
    reason: str | None = None


ACCEPTED = Reply(ReplyStatus.ACCEPTED)


def rejected(reason: str) -> Reply:
    return Reply(ReplyStatus.REJECTED, reason)


@dataclass(frozen=True)
class Reserve:
    connector: int
    reservation_id: str
    code: str
    id_token: str
    expires_at: datetime


@dataclass(frozen=True)
class CancelReservation:
    reservation_id: str


@dataclass(frozen=True)
class RemoteStart:
    connector: int  # 0: any that can start now (OCPP), a plugged vehicle's first
    id_token: str
    reservation_id: str | None = None
    cap: Cap | None = None  # what the driver approved (CONTRACT 12)


@dataclass(frozen=True)
class RemoteStop:
    transaction_id: str
    reason: str = "Remote"  # OCPP: DeAuthorized (its start refused), SoftReset, HardReset


@dataclass(frozen=True)
class Payment:
    transaction_id: str
    status: str  # "pending" | "paid" | "final" (OCPP's FinalCost: the amount is the backend's)
    amount: Decimal
    qr_payload: str | None = None


@dataclass(frozen=True)
class SetTariff:
    tariff: Tariff


@dataclass(frozen=True)
class SetAvailability:
    connector: int
    available: bool


@dataclass(frozen=True)
class SetLimit:
    """The backend's current limit for a connector (0: the whole site); None removes it."""

    connector: int
    max_current_a: float | None


@dataclass(frozen=True)
class Unlock:
    connector: int
    how: str = "ReleasedByTechnician"  # OCPP's UnlockConnector: ReleasedByBackend


@dataclass(frozen=True)
class ShowPrice:
    """What the backend says a running session costs (OCPP California Pricing's `RunningCost`)
    or the driver's price (`SetUserPrice`), for the charging screen; the bill is not changed.
    The session is named by its id or by the driver's token."""

    transaction_id: str | None
    id_token: str | None
    cost: Decimal | None
    text: str | None


@dataclass(frozen=True)
class Diagnostics:
    """Upload the pile's diagnostics archive to `url` (CONTRACT 12), as the file `name` (None:
    the pile names it)."""

    url: str
    name: str | None = None


@dataclass(frozen=True)
class Update:
    """Install the release at `url` (CONTRACT 12) once its `sha256` (if given) and its
    `signature` (base64; None: read from `url` + ".sig") check out, not before `retrieve_at`.
    `local`: a technician's file on the pile (`pilectl update`), which may be a file: url."""

    url: str
    sha256: str | None = None
    signature: str | None = None
    retrieve_at: datetime | None = None
    local: bool = False


@dataclass(frozen=True)
class Trigger:
    what: str  # "status" | "online" | "meter"


Command = (
    Reserve
    | CancelReservation
    | RemoteStart
    | RemoteStop
    | Payment
    | SetTariff
    | SetAvailability
    | SetLimit
    | Unlock
    | ShowPrice
    | Diagnostics
    | Update
    | Trigger
)
