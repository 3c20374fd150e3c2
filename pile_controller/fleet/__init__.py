"""Running a fleet (CONTRACT 12): diagnostics uploaded on request (`diagnostics.py`), the
recent log they carry (`recent.py`)."""

from datetime import UTC, datetime


def diagnostics_file(pile_id: str, now: datetime) -> str:
    """The archive's name, which OCPP's GetDiagnostics answers before it is made."""
    return f"diagnostics-{pile_id}-{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}.tar.gz"
