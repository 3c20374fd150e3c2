"""What happens to a connector: what the hardware reports (`hal/events.py`, taken as they
are), and what the daemon adds: a command reaching its device, the wall clock stepping, the
backend link coming up and going down.

Backend commands are in `commands.py`; they differ in that each gets a reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from hal.events import (
    CableAmpacity,
    CodeEntered,
    DiodeCheck,
    EmergencyStop,
    KeysTyped,
    LockFeedback,
    MeterId,
    MeterReading,
    MeterUnreadable,
    PilotState,
    PlugIn,
    RcdTrip,
    Reading,
    RelayFeedback,
    Report,
    StopButton,
    Tick,
    Unplug,
)

__all__ = [
    "Report",
    "MeterId",
    "Reading",
    "PlugIn",
    "Unplug",
    "CodeEntered",
    "KeysTyped",
    "StopButton",
    "LockFeedback",
    "RelayFeedback",
    "PilotState",
    "DiodeCheck",
    "CableAmpacity",
    "MeterReading",
    "MeterUnreadable",
    "EmergencyStop",
    "RcdTrip",
    "Tick",
]


@dataclass(frozen=True)
class Actuated:
    """A relay or lock command reached its device (`device`: "relay" or "lock"). Commands wait
    for the journal's flush; their feedback deadline counts from here, not from the decision."""

    connector: int
    device: str


@dataclass(frozen=True)
class ClockStepped:
    """The wall clock jumped by `delta` beyond the time that passed (NTP correcting a pile
    that has no battery-backed clock, or a technician setting it)."""

    delta: timedelta


@dataclass(frozen=True)
class LinkUp:
    """The backend link came up (whichever protocol it speaks)."""


@dataclass(frozen=True)
class LinkDown:
    """The backend link went down."""


@dataclass(frozen=True)
class DiagnosticsProgress:
    """How an upload of the diagnostics goes: `Uploading`, `Uploaded` or `UploadFailed` (with
    `reason`)."""

    status: str
    url: str
    reason: str | None = None


UPDATE_UNDER_WAY = ("Downloading", "Downloaded", "Installing")  # the rest end an update


@dataclass(frozen=True)
class FirmwareProgress:
    """How an update goes (CONTRACT 12): `Downloading`, `Downloaded`, `Installing`,
    `Installed`, or a failure (`DownloadFailed`, `InstallVerificationFailed`, `InvalidSignature`,
    `InstallationFailed`, with `reason`); `version` once the release is known."""

    status: str
    version: str | None = None
    reason: str | None = None

    @property
    def over(self) -> bool:
        return self.status not in UPDATE_UNDER_WAY


PileEvent = EmergencyStop | RcdTrip | Tick | ClockStepped | LinkUp | LinkDown  # not a connector's

Event = (
    Report | Actuated | ClockStepped | LinkUp | LinkDown | DiagnosticsProgress | FirmwareProgress
)
