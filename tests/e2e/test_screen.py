"""The daemon's own screens (png driver), read back with a real QR decoder as a phone would:
the start code, then the payment code from the template, then the backend's own payload."""

import time
from pathlib import Path
from typing import Any

from rig.qr import decode_qr


def shows(png: Path, payload: str, timeout: float = 10.0) -> None:
    """Waits until the screen file shows a QR code reading exactly `payload`."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        if png.exists():
            seen = decode_qr(png)
            if seen == [payload]:
                return
        time.sleep(0.1)
    raise AssertionError(f"{png.name} shows {seen}, not {payload!r}")


def test_the_screen_follows_the_session(make_rig: Any) -> None:
    rig = make_rig(display="png")
    be, pile = rig.backend, rig.pile
    screen = pile.state / "screen-1.png"
    shows(screen, "https://app.example.com/start?pile=PILE-T1&c=1")

    pile.sim("plug", 1)
    be.ask("start", connector=1, id_token="driver")
    tx = be.event("transaction.started")["data"]["transaction_id"]
    pile.sim("clock", "+1800")
    pile.sim("stop-button", 1)
    request = be.event("payment.requested", transaction_id=tx)["data"]
    shows(screen, request["qr_payload"])
    assert f"tx={tx}" in request["qr_payload"]

    backend_qr = "https://pay.operator.example/o/7f3a9c?sig=Zm9vYmFy"
    reply = be.ask(
        "payment",
        transaction_id=tx,
        status="pending",
        amount=request["amount"],
        qr_payload=backend_qr,
    )
    assert reply["status"] == "Accepted"
    shows(screen, backend_qr)
    assert not (pile.state / ".screen-1.png.tmp").exists()  # written atomically
