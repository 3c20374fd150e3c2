"""Draws docs/hardware/wiring.png, the reference build's wiring (docs/HARDWARE.md), from the
pins of config.rpi.toml, so the picture and the shipped example cannot disagree.

`python -m rig.wiring`
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from pile_controller import config
from pile_controller.screen.fonts import find_font

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "hardware" / "wiring.png"
W, H = 1200, 650


def box(
    d: ImageDraw.ImageDraw,
    xy: tuple[int, int, int, int],
    title: str,
    lines: list[str],
    font: ImageFont.FreeTypeFont,
    small: ImageFont.FreeTypeFont,
) -> None:
    d.rounded_rectangle(xy, radius=10, outline=(40, 40, 40), width=3, fill=(246, 248, 250))
    x, y = xy[0] + 12, xy[1] + 8
    d.text((x, y), title, font=font, fill=(10, 90, 60))
    for i, line in enumerate(lines):
        d.text((x, y + 34 + i * 22), line, font=small, fill=(30, 30, 30))


def wire(
    d: ImageDraw.ImageDraw,
    a: tuple[int, int],
    b: tuple[int, int],
    label: str,
    small: ImageFont.FreeTypeFont,
) -> None:
    d.line(
        [
            a,
            (a[0], b[1]) if abs(a[0] - b[0]) < 5 else ((a[0] + b[0]) // 2, a[1]),
            ((a[0] + b[0]) // 2, b[1]),
            b,
        ],
        fill=(60, 60, 200),
        width=3,
    )
    d.text(((a[0] + b[0]) // 2 + 6, (a[1] + b[1]) // 2 - 24), label, font=small, fill=(60, 60, 200))


def main() -> None:
    s = config.load(ROOT / "config.rpi.toml")
    path = find_font("WenQuanYi Micro Hei")
    font, small = ImageFont.truetype(str(path), 22), ImageFont.truetype(str(path), 16)
    image = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(image)
    assert s.hal.estop is not None
    pi_lines = [
        f"BCM {s.hal.estop.pin}: e-stop loop (low = pressed)",
        f"BCM {s.hal.rcd_fault.pin if s.hal.rcd_fault else '-'}: RCD fault (high = fault)",
        "BCM 18 / 19: PWM0 / PWM1 (pilots)",
        "SPI0 (BCM 8-11): MCP3008",
        "UART (BCM 14/15): RS485 HAT",
    ]
    box(d, (450, 20, 790, 220), "Raspberry Pi", pi_lines, font, small)
    box(
        d,
        (860, 40, 1180, 180),
        "RS485 HAT + meters",
        ["/dev/ttyAMA0, 9600 8N1", "SDM630 unit 1, unit 2"],
        font,
        small,
    )
    wire(d, (790, 120), (860, 120), "A/B", small)
    box(
        d,
        (20, 40, 380, 180),
        "E-stop + RCD",
        [
            "NC loop to BCM " + str(s.hal.estop.pin),
            "also in series with the",
            "contactor coils (hardware)",
        ],
        font,
        small,
    )
    wire(d, (380, 110), (450, 110), "", small)
    for i, c in enumerate(s.connectors):
        assert c.pins is not None and c.pilot is not None
        x = 30 + i * 590
        p = c.pins
        lines = [
            f"relay BCM {p.relay.pin} -> contactor coil driver",
            f"mirror contact -> BCM {p.relay_feedback.pin}",
            f"lock BCM {p.lock.pin}" + (f", unlock BCM {p.unlock.pin}" if p.unlock else ""),
            f"lock feedback -> BCM {p.lock_feedback.pin}",
            f"STOP button -> BCM {p.stop_button.pin if p.stop_button else '-'}"
            + (" (active low)" if p.stop_button and p.stop_button.active_low else ""),
            f"pilot: pwmchip{c.pilot.pwm_chip}/pwm{c.pilot.pwm_channel} -> +/-12 V -> 1 kOhm -> CP",
            f"CP -> 100k/22k/28k divider -> MCP3008 CH{c.pilot.adc_channel}",
        ]
        box(
            d,
            (x, 330, x + 560, 530),
            f"Connector {c.id} ({c.max_current_a:g} A, {c.phases} phases)",
            lines,
            font,
            small,
        )
        wire(d, (620, 220), (x + 280, 330), f"connector {c.id}", small)
    d.text(
        (20, 560),
        "Safety: the e-stop and the RCD also break the contactor coils' supply in hardware;",
        font=small,
        fill=(160, 30, 30),
    )
    d.text(
        (20, 584),
        "the software opens the relays in the input callback as well (hal/interlock.py).",
        font=small,
        fill=(160, 30, 30),
    )
    d.text(
        (20, 620),
        "Generated from config.rpi.toml by `python -m rig.wiring`.",
        font=small,
        fill=(90, 90, 90),
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    image.save(OUT, optimize=True)


if __name__ == "__main__":
    main()
