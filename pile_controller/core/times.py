"""The contract's time format: RFC 3339 UTC with milliseconds (`2026-11-22T03:21:48.123Z`);
and noticing the wall clock jump."""

from collections.abc import Callable
from datetime import UTC, datetime


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """Parses an RFC 3339 time with an offset or `Z`; raises ValueError for anything else."""
    t = datetime.fromisoformat(text.replace("z", "Z"))
    if t.tzinfo is None:
        raise ValueError(f"time without offset: {text!r}")
    try:
        return t.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is past the end of the calendar in UTC
        raise ValueError(f"time out of range: {text!r}") from None


class ClockWatch:
    """Notices the wall clock jumping against the monotonic one. A pile without a battery-backed
    clock boots with a stale time and NTP steps it, often by hours: unnoticed, every running
    timer would fire at once (a live session stopped as if its meter had been silent for hours).
    NTP's own slewing stays far below the threshold. Both clocks are given, as everywhere in
    the core."""

    THRESHOLD_S = 1.0

    def __init__(self, monotonic: Callable[[], float], wall: Callable[[], float]):
        self.monotonic, self.wall = monotonic, wall
        self.offset = wall() - monotonic()

    def step(self) -> float:
        """Seconds the wall clock jumped since the last call (0.0 if it did not)."""
        offset = self.wall() - self.monotonic()
        jump, self.offset = offset - self.offset, offset
        return jump if abs(jump) >= self.THRESHOLD_S else 0.0
