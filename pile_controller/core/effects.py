"""What the core asks the outside world to do. The daemon opens relays at once; the rest it
carries out in order, after committing every `Publish` (and `SaveTariff`) to the journal and
flushing it to disk (write ahead, then act)."""

from __future__ import annotations

from dataclasses import dataclass

from pile_controller.core.commands import Update
from pile_controller.core.published import Published
from pile_controller.core.tariff import Tariff


@dataclass(frozen=True)
class CloseRelay:
    connector: int


@dataclass(frozen=True)
class OpenRelay:
    connector: int


@dataclass(frozen=True)
class LockCable:
    connector: int


@dataclass(frozen=True)
class UnlockCable:
    connector: int


@dataclass(frozen=True)
class SetPilot:
    """The control pilot offers `amps` with its PWM, or, with None, no current (constant +12 V)."""

    connector: int
    amps: float | None


@dataclass(frozen=True)
class ReadMeter:
    """Take a reading now (the stop reading of a transaction must not be a stale one)."""

    connector: int


@dataclass(frozen=True)
class Publish:
    """An event for `P/ID/events`; the journal gives it its `seq` and `id`."""

    event: Published


@dataclass(frozen=True)
class SaveTariff:
    """Journal the tariff for the next start, in the commit of the command that set it."""

    tariff: Tariff


@dataclass(frozen=True)
class Note:
    """Something a technician should find in the log (said once, not on every step)."""

    connector: int
    text: str


@dataclass(frozen=True)
class Redraw:
    """The screen changed for the driver alone (a keystroke's dot): no status for it."""

    connector: int


@dataclass(frozen=True)
class PublishStatus:
    connector: int


@dataclass(frozen=True)
class PublishOnline:
    pass


@dataclass(frozen=True)
class UploadDiagnostics:
    """Gather the diagnostics archive and upload it (the daemon reports how it goes as
    `events.DiagnosticsProgress`)."""

    url: str
    name: str | None = None


@dataclass(frozen=True)
class InstallUpdate:
    """Download, check and install a release, then switch to it once no session runs (the
    daemon reports how it goes as `events.FirmwareProgress`)."""

    update: Update


Effect = (
    CloseRelay
    | OpenRelay
    | LockCable
    | UnlockCable
    | SetPilot
    | ReadMeter
    | Publish
    | SaveTariff
    | PublishStatus
    | Redraw
    | Note
    | PublishOnline
    | UploadDiagnostics
    | InstallUpdate
)
