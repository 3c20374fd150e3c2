"""The pile's screen: every state in every language and frame size, QR codes decoded by a real
decoder (zbar), and text that fits without being cut off."""

from decimal import Decimal

import pytest

from pile_controller.core import commands as cmd
from pile_controller.screen import render as render_module
from pile_controller.screen.fonts import find_font
from pile_controller.screen.render import LayoutError, render
from pile_controller.screen.screens import CODE_FIELD, Screen, Text, screen_for
from rig.bench import Bench
from rig.gallery import START, every_state
from rig.qr import decode_qr

FONT = find_font("WenQuanYi Micro Hei")
SIZES = [(480, 320), (320, 480), (800, 480), (480, 800), (320, 240), (240, 320)]
LANGUAGES = ["zh", "en", "both"]


SCREENS = every_state()


def test_every_state_has_its_screen() -> None:
    assert set(SCREENS) == {
        "idle",
        "idle_offline",
        "reserved",
        "authenticating",
        "authenticating_offline",
        "locked_out",
        "charging",
        "paused_by_vehicle",
        "waiting_for_power",
        "awaiting_payment",
        "awaiting_payment_offline",
        "unlocked",
        "unavailable",
        "faulted",
    }
    assert SCREENS["faulted"].tone == "fault"
    assert "Support 400-800-1234" in [t.en for t in SCREENS["faulted"].lines]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("state", sorted(SCREENS))
def test_text_fits_every_frame_in_every_language(
    state: str, language: str, size: tuple[int, int]
) -> None:
    width, height = size
    drawing = render(SCREENS[state], width, height, language, FONT)
    for area, placements in (
        (drawing.title_area, drawing.title),
        (drawing.text_area, drawing.texts),
    ):
        left, top, right, bottom = area
        for placed in placements:
            x0, y0, x1, y1 = placed.box
            assert left <= x0 and x1 <= right and top <= y0 and y1 <= bottom, placed
    if drawing.qr_box:
        qx0, qy0, qx1, qy1 = drawing.qr_box
        for placed in drawing.texts:
            x0, y0, x1, y1 = placed.box
            assert x1 <= qx0 or x0 >= qx1 or y1 <= qy0 or y0 >= qy1, f"{placed} overlaps the QR"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_start_qr_code_decodes_to_the_start_url(size: tuple[int, int]) -> None:
    image = render(SCREENS["idle"], *size, "both", FONT).image
    assert decode_qr(image) == [START]


def test_the_payment_qr_code_decodes_to_the_filled_template() -> None:
    screen = SCREENS["awaiting_payment"]
    assert screen.qr is not None
    assert decode_qr(render(screen, 480, 320, "both", FONT).image) == [screen.qr]
    assert "tx=TX1" in screen.qr and "amount=" in screen.qr


def test_the_backends_qr_payload_replaces_the_template() -> None:
    b = Bench()
    tx = b.start_reserved_session()
    b.advance(600)
    b.do("stop_button")
    amount = b.c(1).transaction.amount  # type: ignore[union-attr]
    payload = "wxp://f2f0Vx3kH2mQ-backend-issued-0001"
    assert b.command(cmd.Payment(tx, "pending", amount or Decimal(0), payload)) == cmd.ACCEPTED
    screen = screen_for(b.c(1), b.now, START, "")
    assert decode_qr(render(screen, 480, 320, "both", FONT).image) == [payload]


def test_offline_no_start_code_is_shown_but_what_works_at_the_pile_is() -> None:
    assert SCREENS["idle_offline"].qr is None
    assert "The pile is offline: app start unavailable" in [
        t.en for t in SCREENS["idle_offline"].lines
    ]
    # A booked driver's code is checked at the pile: code entry stays, the scan offer goes.
    booked = SCREENS["authenticating_offline"]
    assert booked.qr is None and booked.title.en == "Enter your booking code"
    assert Text(f"预约码 {CODE_FIELD}", f"Code {CODE_FIELD}") in booked.lines
    walk_up = Bench()
    walk_up.do("plug")
    screen = screen_for(walk_up.c(1), walk_up.now, START, "", online=False)
    assert screen.qr is None and "Please unplug and try again later" in [t.en for t in screen.lines]
    # Paying in the app still works; the pile hears of it when it is back.
    paying = SCREENS["awaiting_payment_offline"]
    assert paying.qr == SCREENS["awaiting_payment"].qr
    assert "Offline: unlocks when the payment arrives" in [t.en for t in paying.lines]


def test_charging_shows_the_sessions_own_price_and_the_cost_rounded_as_billed() -> None:
    from pile_controller.core.tariff import Tariff

    b = Bench()
    b.start_reserved_session()
    b.command(cmd.SetTariff(Tariff("T2", "CNY", Decimal("9"), Decimal("0"))))  # for later ones
    b.sim.ev_power(1, 2250)
    b.advance(3600, step=60)  # 2.25 kWh at 2.00: 4.50 exactly; half a cent is never shown
    lines = [t.en for t in screen_for(b.c(1), b.now, START, "").lines]
    assert "Cost 4.50 CNY at 2.00/kWh" in lines


def test_code_entry_never_shows_the_codes_length() -> None:
    for code in ("1234", "123456789012"):
        b = Bench()
        b.reserve(1, code=code)
        b.do("plug")
        screen = screen_for(b.c(1), b.now, START, "")
        assert Text(f"预约码 {CODE_FIELD}", f"Code {CODE_FIELD}") in screen.lines


def test_countdowns_change_every_second_and_idle_does_not() -> None:
    b = Bench()
    b.reserve(1, minutes=10)
    first = screen_for(b.c(1), b.now, START, "")
    b.advance(1)
    assert screen_for(b.c(1), b.now, START, "") != first
    idle = screen_for(b.c(2), b.now, START, "")
    b.advance(1)
    assert screen_for(b.c(2), b.now, START, "") == idle


def test_long_amounts_and_fault_texts_still_fit() -> None:
    payment = Screen(
        Text("请扫码支付", "Scan to pay"),
        (
            Text("金额 123456789.99 CNY", "Amount 123456789.99 CNY"),
            Text("电量 1234567.89 kWh", "Energy 1234567.89 kWh"),
            Text("支付后充电枪自动解锁", "The cable unlocks once paid"),
        ),
        qr=START + "&tx=" + "T" * 60 + "&amount=123456789.99&cur=CNY",
    )
    fault = Screen(
        Text("故障", "Out of order"),
        (
            Text(
                "设备故障：急停按钮已按下，充电已停止，请联系现场工作人员处理",
                "Equipment fault: the emergency stop was pressed and charging stopped; "
                "please ask the site staff for help",
            ),
            Text("客服电话 400-800-1234 转 5678", "Support 400-800-1234 ext. 5678"),
        ),
        tone="fault",
    )
    for screen in (payment, fault):
        for size in SIZES:
            for language in LANGUAGES:
                render(screen, *size, language, FONT)  # LayoutError if anything is cut


def test_a_screen_that_cannot_fit_is_refused_not_clipped() -> None:
    crowded = Screen(Text("x", "x"), tuple(Text("字" * 40, "word " * 40) for _ in range(30)))
    with pytest.raises(LayoutError, match="text does not fit"):
        render(crowded, 320, 240, "both", FONT)


def test_qr_modules_are_whole_pixels_with_a_quiet_zone() -> None:
    drawing = render(SCREENS["idle"], 480, 320, "both", FONT)
    assert drawing.module_px >= 3 and drawing.qr_box is not None
    x0, y0, x1, y1 = drawing.qr_box
    assert (x1 - x0) % drawing.module_px == 0
    border = drawing.image.crop((x0, y0, x1, y0 + 4 * drawing.module_px))
    assert border.getextrema() == ((255, 255), (255, 255), (255, 255))  # quiet zone is white


def test_a_paused_session_says_who_paused_it_in_both_languages() -> None:
    b = Bench()
    b.do("plug")
    b.command(cmd.RemoteStart(1, "app"))
    b.advance(2)
    assert screen_for(b.c(1), b.now, START, "", online=True).title.en == "Charging"
    b.do("ev_power", 1, 0)  # the vehicle stops asking
    paused = screen_for(b.c(1), b.now, START, "", online=True).title
    assert (paused.zh, paused.en) == ("车辆暂停充电", "Paused by the vehicle")
    b.command(cmd.SetLimit(1, 0.0))  # the pile withholds power
    waiting = screen_for(b.c(1), b.now, START, "", online=True).title
    assert (waiting.zh, waiting.en) == ("等待供电", "Waiting for power")


def test_a_screen_that_changes_only_in_digits_keeps_its_text_size() -> None:
    font = find_font("WenQuanYi Micro Hei")
    title = Text("充电中", "Charging")

    def sizes(energy: str) -> list[int]:
        screen = Screen(title, (Text(f"电量 {energy} kWh", f"Energy {energy} kWh"),))
        return [p.size for p in render(screen, 320, 240, "both", font).texts]

    assert sizes("1.23") == sizes("8.88") == sizes("4.56")


def test_text_that_does_not_fit_its_remembered_size_is_fitted_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    font = find_font("WenQuanYi Micro Hei")
    screen = Screen(Text("充电中", "Charging"), (Text("电量 88.88 kWh", "Energy 88.88 kWh"),))
    fitted = render(screen, 320, 240, "both", font).texts
    monkeypatch.setattr(render_module, "shaped_size", lambda *_: 400)  # a size far too big
    drawing = render(screen, 320, 240, "both", font)
    assert [(p.text, p.size) for p in drawing.texts] == [(p.text, p.size) for p in fitted]


def test_the_backends_running_cost_and_price_text_are_shown_not_billed() -> None:
    b = Bench()
    tx = b.start_reserved_session()
    b.sim.ev_power(1, 2250)
    b.advance(3600, step=60)
    assert b.command(cmd.ShowPrice(tx, None, Decimal("5.10"), None)) == cmd.ACCEPTED
    lines = [t.en for t in screen_for(b.c(1), b.now, START, "").lines]
    assert "Cost 5.10 CNY at 2.00/kWh" in lines
    token = b.c(1).transaction.id_token  # type: ignore[union-attr]
    assert b.command(cmd.ShowPrice(None, token, None, "0.35 EUR/kWh member")) == cmd.ACCEPTED
    assert "0.35 EUR/kWh member" in [t.en for t in screen_for(b.c(1), b.now, START, "").lines]
    assert b.command(cmd.ShowPrice("nope", None, Decimal(1), None)) == cmd.rejected(
        "UnknownTransaction"
    )
    b.do("stop_button")
    assert b.c(1).transaction.amount == Decimal("4.50")  # type: ignore[union-attr]


def test_a_final_cost_replaces_the_amount_and_the_qr_code() -> None:
    b = Bench()
    tx = b.start_reserved_session()
    b.advance(600)
    b.do("stop_button")
    final = "https://pay.example/csms/77"
    assert b.command(cmd.Payment(tx, "final", Decimal("3.30"), final)) == cmd.ACCEPTED
    screen = screen_for(b.c(1), b.now, START, "")
    assert decode_qr(render(screen, 480, 320, "both", FONT).image) == [final]
    assert "Amount 3.30 CNY" in [t.en for t in screen.lines]
    assert b.command(cmd.Payment(tx, "paid", Decimal("3.30"))) == cmd.ACCEPTED


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_capped_session_shows_the_drivers_cap_and_it_fits(size: tuple[int, int]) -> None:
    from pile_controller.core.transaction import Cap

    b = Bench()
    b.do("plug")
    cap = Cap(Decimal("12345.67"), 100_000)  # the longest a cap is likely to be written
    assert b.command(cmd.RemoteStart(1, "app", cap=cap)) == cmd.ACCEPTED
    screen = screen_for(b.c(1), b.now, START, "")
    assert "Stops at 12345.67 CNY / 100.0 kWh or STOP" in [t.en for t in screen.lines]
    for language in LANGUAGES:
        drawing = render(screen, *size, language, FONT)
        left, top, right, bottom = drawing.text_area
        for placed in drawing.texts:
            x0, y0, x1, y1 = placed.box
            assert left <= x0 and x1 <= right and top <= y0 and y1 <= bottom, placed
