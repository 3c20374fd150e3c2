"""The pile speaking OCPP 1.6J to a central system we did not write (rig/csms.py,
rig/strict_csms.py)."""

from __future__ import annotations

from typing import Any


def ocpp_options(url: str, extra: str = "", **options: Any) -> dict[str, Any]:
    """PileProcess options for a pile whose CSMS is at `url` (`extra`: more [ocpp] lines)."""
    return {
        **options,
        "backend_extra": f'protocol = "ocpp1.6"\n\n[ocpp]\nurl = "{url}"\n{extra}',
    }
