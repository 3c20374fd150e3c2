"""The pile speaking OCPP 1.6J to a central system we did not write (rig/csms.py,
rig/strict_csms.py)."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call

from rig.csms import Csms
from rig.pile import PileProcess


def ocpp_options(
    url: str, extra: str = "", protocol: str = "ocpp1.6", **options: Any
) -> dict[str, Any]:
    """PileProcess options for a pile whose CSMS is at `url` (`extra`: more [ocpp] lines)."""
    return {
        **options,
        "backend_extra": f'protocol = "{protocol}"\n\n[ocpp]\nurl = "{url}"\n{extra}',
    }


def charging(csms: Csms, pile: PileProcess, cid: int, id_tag: str = "t") -> None:
    """A vehicle plugged into `cid` and started remotely by the CSMS, charging."""
    pile.sim("plug", cid)
    assert csms.call(call.RemoteStartTransaction(id_tag=id_tag, connector_id=cid)).status == (
        "Accepted"
    )
    # Power flows (the relay closed): a clock moved on from here is energy.
    pile.wait_until(lambda r: r["connectors"][cid - 1]["relay_closed"])
