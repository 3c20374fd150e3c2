"""The contract's time format: RFC 3339 UTC with milliseconds (`2026-11-22T03:21:48.123Z`)."""

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
