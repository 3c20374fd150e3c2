"""The daemon's own screens (png driver), read back with a real QR decoder as a phone would:
the start code, then the payment code from the template, then the backend's own payload; and
no start code while the pile is cut off from its backend."""

from typing import Any

from rig.qr import shows

START = "https://app.example.com/start?pile=PILE-T1&c=1"


def test_the_screen_follows_the_session(make_rig: Any) -> None:
    rig = make_rig(display="png")
    be, pile = rig.backend, rig.pile
    screen = pile.state / "screen-1.png"
    shows(screen, START)

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


def test_a_pile_cut_off_from_its_backend_offers_no_start_code_until_it_is_back(
    make_rig: Any,
) -> None:
    rig = make_rig(display="png")
    pile, screen = rig.pile, rig.pile.state / "screen-1.png"
    shows(screen, START)
    rig.broker.stop()
    pile.wait_until(lambda r: not r["backend"]["connected"])
    pile.sim("clock", "+31")  # out of reach longer than a broker restart takes
    shows(screen, None)  # a scan would lead nowhere: the screen says the pile is offline
    rig.broker.start()
    pile.wait_until(lambda r: r["backend"]["connected"], timeout=30)
    shows(screen, START)
