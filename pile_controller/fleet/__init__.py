"""Running a fleet (CONTRACT 12): updates (`update.py`: a release checked by `release.py`,
laid out by `releases.py`, confirmed or given up by `trial.py`), diagnostics uploaded on
request (`diagnostics.py`, with the recent log of `recent.py`), both on `worker.py`'s
threads."""

from datetime import UTC, datetime


def diagnostics_file(pile_id: str, now: datetime) -> str:
    """The archive's name, which OCPP's GetDiagnostics answers before it is made."""
    return f"diagnostics-{pile_id}-{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}.tar.gz"
