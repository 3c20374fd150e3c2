"""What each state shows on the pile's screen: connector -> picture, and the display drivers.

This is the first cut (issue 4 brings every screen in Chinese and English, layout rules and the
framebuffer): a title, a few lines, and the QR code the state calls for, written atomically.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import qrcode
from PIL import Image, ImageDraw, ImageFont

from pile_controller.config import Settings
from pile_controller.core.connector import Connector

log = logging.getLogger(__name__)
SIZE = (480, 320)


@dataclass(frozen=True)
class Screen:
    title: str
    lines: tuple[str, ...] = ()
    qr: str | None = None


def screen_for(c: Connector, now: datetime, start_url: str) -> Screen:
    tx = c.transaction
    match c.state:
        case "idle":
            return Screen("Scan to charge", (f"Connector {c.id}",), start_url)
        case "reserved":
            assert c.reservation is not None
            until = c.reservation.expires_at.astimezone(c.ctx.zone).strftime("%H:%M")
            return Screen(
                "Reserved", (f"Connector {c.id}", f"until {until}", "Plug in, then enter your code")
            )
        case "authenticating":
            left = c.gate.attempts_left(now)
            return Screen("Enter your code or scan", (f"Attempts left: {left}",), start_url)
        case "charging" if tx is not None:
            return Screen(
                "Charging",
                (
                    f"{tx.energy_wh / 1000:.2f} kWh",
                    f"{tx.power_w / 1000:.1f} kW",
                    f"{tx.cost:.2f} {tx.tariff.currency}",
                ),
            )
        case "awaiting_payment" if tx is not None:
            return Screen("Please pay", (f"{tx.amount} {tx.tariff.currency}",), tx.qr_payload)
        case "unlocked":
            return Screen("Thank you", ("Please remove the cable",))
        case "unavailable":
            return Screen("Out of service")
    fault = next(iter(c.faults.values()), None)
    return Screen("Fault", (fault.message if fault else "",))


def render(screen: Screen) -> Image.Image:
    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=24)
    draw.text((16, 16), screen.title, fill="black", font=font)
    for i, line in enumerate(screen.lines):
        draw.text((16, 64 + 32 * i), line, fill="black", font=font)
    if screen.qr:
        code = qrcode.QRCode(border=4, box_size=4)
        code.add_data(screen.qr)
        picture = code.make_image(fill_color="black", back_color="white").get_image()
        side = SIZE[1] - 32
        image.paste(
            picture.convert("RGB").resize((side, side), Image.Resampling.NEAREST),
            (SIZE[0] - side - 16, 16),
        )
    return image


class Display(Protocol):
    def show(self, connector: Connector, now: datetime) -> None: ...


class NoDisplay:
    def show(self, connector: Connector, now: datetime) -> None:
        pass


class PngDisplay:
    """Writes each connector's screen to a PNG (temp file and rename: readers never see half)."""

    def __init__(self, settings: Settings):
        self.path_template = settings.display.path
        self.start_template = settings.display.start_url_template
        self.pile_id = settings.pile.id
        self.shown: dict[int, Screen] = {}

    def show(self, connector: Connector, now: datetime) -> None:
        start_url = self.start_template.format(
            pile_id=self.pile_id, connector=connector.id, transaction_id="", amount="", currency=""
        )
        screen = screen_for(connector, now, start_url)
        if self.shown.get(connector.id) == screen:
            return  # redraw only on change
        self.shown[connector.id] = screen
        path = Path(self.path_template.format(connector=connector.id))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            render(screen).save(tmp, format="PNG")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("screen %s: %s", path, exc)


def open_display(settings: Settings) -> Display:
    if settings.display.driver == "png":
        return PngDisplay(settings)
    return NoDisplay()
