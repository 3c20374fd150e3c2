"""Draws a Screen into a frame of the panel's size: a title band, text fitted to the space left,
and the QR code the state calls for.

The QR code rule (docs/SCREENS.md): the code gets the largest square the layout allows, drawn
with a whole number of pixels per module (never resampled, so edges stay sharp) and a quiet
zone of 4 modules; a module narrower than MIN_MODULE_PX is refused as unscannable. Text is
fitted, not cut: lines shrink, then wrap, down to MIN_TEXT_PX; past that the screen is refused
with a LayoutError, which the layout tests turn into a failure rather than a clipped screen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_L, ERROR_CORRECT_M

from pile_controller.screen.screens import Screen, Text

MIN_MODULE_PX = 3
MIN_TEXT_PX = 12
MARGIN = 0.04  # of the shorter side
QUIET_ZONE = 4  # modules, as ISO/IEC 18004 asks
TONES = {"normal": (11, 110, 79), "attention": (199, 119, 0), "fault": (176, 0, 32)}
INK = (20, 20, 20)


class LayoutError(Exception):
    """The screen does not fit the frame; the message says what did not fit."""


@dataclass
class Placed:
    text: str
    box: tuple[int, int, int, int]  # left, top, right, bottom
    size: int


@dataclass
class Drawing:
    image: Image.Image
    title: list[Placed] = field(default_factory=list)
    title_area: tuple[int, int, int, int] = (0, 0, 0, 0)
    texts: list[Placed] = field(default_factory=list)  # the body's lines
    text_area: tuple[int, int, int, int] = (0, 0, 0, 0)
    qr_box: tuple[int, int, int, int] | None = None
    module_px: int = 0


def render(screen: Screen, width: int, height: int, language: str, font: Path) -> Drawing:
    image = Image.new("RGB", (width, height), "white")
    drawing = Drawing(image)
    draw = ImageDraw.Draw(image)
    margin = max(4, round(min(width, height) * MARGIN))
    band = max(40, round(height * (0.16 if height >= width else 0.2)))
    draw.rectangle((0, 0, width, band), fill=TONES[screen.tone])
    drawing.title_area = (margin, 0, width - margin, band)
    drawing.title = fit(
        lines_of((screen.title,), language), drawing.title_area, font, start=round(band * 0.42)
    )
    for p in drawing.title:
        stamp(image, p, font, "white")

    body = (margin, band + margin, width - margin, height - margin)
    drawing.text_area = body
    if screen.qr:
        drawing.text_area, drawing.qr_box, drawing.module_px = place_qr(image, screen.qr, body)
    drawing.texts = fit(
        lines_of(screen.lines, language),
        drawing.text_area,
        font,
        start=round(min(width, height) * 0.085),
    )
    for p in drawing.texts:
        stamp(image, p, font, INK)
    return drawing


def lines_of(texts: tuple[Text, ...], language: str) -> list[tuple[str, float]]:
    """(line, relative size): with both languages, Chinese first and English a little smaller."""
    out: list[tuple[str, float]] = []
    for t in texts:
        if language in ("zh", "both") and t.zh:
            out.append((t.zh, 1.0))
        if language in ("en", "both") and t.en:
            out.append((t.en, 0.78 if language == "both" else 1.0))
    return out


def place_qr(
    image: Image.Image, payload: str, body: tuple[int, int, int, int]
) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int], int]:
    left, top, right, bottom = body
    width, height = right - left, bottom - top
    landscape = width >= height
    room = min(height, width // 2) if landscape else min(width, round(height * 0.6))
    picture, module_px = qr_picture(payload, room)
    side = picture.size[0]
    if landscape:
        x, y = right - side, top + (height - side) // 2
        text_area = (left, top, x - module_px, bottom)
    else:
        x, y = left + (width - side) // 2, bottom - side
        text_area = (left, top, right, y - module_px)
    image.paste(picture, (x, y))
    return text_area, (x, y, x + side, y + side), module_px


@lru_cache(maxsize=8)  # the start code never changes; a payment code lives for a session
def qr_picture(payload: str, room: int) -> tuple[Image.Image, int]:
    """The code for `payload` in at most `room` pixels, and its module size."""
    # Level M survives a scratched screen; a long payload on a small panel falls back to L,
    # which needs fewer modules, before being refused.
    for level in (ERROR_CORRECT_M, ERROR_CORRECT_L):
        code = qrcode.QRCode(error_correction=level, border=QUIET_ZONE, box_size=1)
        code.add_data(payload)
        code.make(fit=True)
        modules = code.modules_count + 2 * QUIET_ZONE
        module_px = room // modules
        if module_px >= MIN_MODULE_PX:
            break
    else:
        raise LayoutError(
            f"QR code of {code.modules_count} modules needs "
            f"{modules * MIN_MODULE_PX} px, the screen has {room} px for it"
        )
    code.box_size = module_px
    picture = code.make_image(fill_color="black", back_color="white").get_image().convert("RGB")
    return picture, module_px


def fit(
    lines: list[tuple[str, float]], area: tuple[int, int, int, int], font: Path, start: int
) -> list[Placed]:
    """Places `lines` in `area` at the largest size whose measured glyph boxes all fit,
    wrapping lines that are too wide.

    A screen redrawn every second (the charging screen's clock, energy and cost) differs from
    the one before in its digits only: the size found for its shape, every digit read as 0, is
    remembered and tried first, one layout instead of a search, and the text keeps its size
    from one second to the next. Where the real digits do not fit at it, the search runs."""
    shape = tuple((DIGIT.sub("0", text), scale) for text, scale in lines)
    placed = lay_out(lines, area, font, shaped_size(shape, area, font, start))
    return placed if placed is not None else search(lines, area, font, start)[1]


DIGIT = re.compile(r"\d")


@lru_cache(maxsize=256)
def shaped_size(
    shape: tuple[tuple[str, float], ...], area: tuple[int, int, int, int], font: Path, start: int
) -> int:
    return search(list(shape), area, font, start)[0]


def search(
    lines: list[tuple[str, float]], area: tuple[int, int, int, int], font: Path, start: int
) -> tuple[int, list[Placed]]:
    """The largest size and the lines placed at it, by bisection (text that fits at one size
    fits at every smaller one)."""
    natural = max(start, MIN_TEXT_PX)
    first = lay_out(lines, area, font, natural)
    if first is not None:
        return natural, first  # most screens fit at their natural size
    best = lay_out(lines, area, font, MIN_TEXT_PX)
    if best is None:
        longest = max(lines, key=lambda line: len(line[0]))[0] if lines else ""
        left, top, right, bottom = area
        raise LayoutError(f"text does not fit {right - left}x{bottom - top} px: {longest!r}")
    low, high = MIN_TEXT_PX, natural - 1
    while low < high:
        size = (low + high + 1) // 2
        placed = lay_out(lines, area, font, size)
        if placed is None:
            high = size - 1
        else:
            low, best = size, placed
    return low, best


def lay_out(
    lines: list[tuple[str, float]], area: tuple[int, int, int, int], font: Path, size: int
) -> list[Placed] | None:
    """The lines placed at `size`, or None if any glyph box would leave `area`."""
    left, top, right, bottom = area
    placed, y = [], top
    for text, scale in lines:
        px = max(MIN_TEXT_PX, round(size * scale))
        for piece in wrap(text, font, px, right - left):
            _, _, x1, y1 = bbox(font, px, piece)
            box = (left, y, left + round(x1), y + round(y1))
            if box[2] > right or box[3] > bottom:
                return None
            placed.append(Placed(piece, box, px))
            y += round(px * 1.3)
    return placed


def wrap(text: str, font: Path, size: int, width: int) -> list[str]:
    """Breaks `text` at spaces (or anywhere, for Chinese) so each piece fits `width`."""
    if length(font, size, text) <= width:
        return [text]
    pieces, line = [], ""
    words = text.split(" ") if " " in text else list(text)
    joiner = " " if " " in text else ""
    for word in words:
        candidate = f"{line}{joiner}{word}" if line else word
        if length(font, size, candidate) <= width or not line:
            line = candidate
        else:
            pieces.append(line)
            line = word
    pieces.append(line)
    return pieces


@lru_cache(maxsize=4)  # a screen uses three: the title's, the body's in each language
def load(font: Path, size: int) -> ImageFont.FreeTypeFont:
    """The font at `size`. Each size is a FreeType face mapping the whole font file of its own
    (a CJK font: megabytes), and a size search tries many: only the last few are kept."""
    return ImageFont.truetype(str(font), size)


# A screen redrawn every second keeps most of its lines from one second to the next (the
# title, the labels, the power): their measures and their pixels are kept, and only a line
# that changed is measured and drawn again.
@lru_cache(maxsize=1024)
def bbox(font: Path, size: int, text: str) -> tuple[float, float, float, float]:
    return load(font, size).getbbox(text)


@lru_cache(maxsize=1024)
def length(font: Path, size: int, text: str) -> float:
    return load(font, size).getlength(text)


@lru_cache(maxsize=128)
def pixels(font: Path, size: int, text: str) -> Image.Image:
    """The line's coverage (0..255) in a picture of its own, drawn once."""
    _, _, x1, y1 = bbox(font, size, text)
    mask = Image.new("L", (max(1, round(x1)), max(1, round(y1))), 0)
    ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=load(font, size))
    return mask


def stamp(image: Image.Image, placed: Placed, font: Path, ink: str | tuple[int, int, int]) -> None:
    mask = pixels(font, placed.size, placed.text)
    image.paste(
        ink,
        (placed.box[0], placed.box[1], placed.box[0] + mask.width, placed.box[1] + mask.height),
        mask,
    )
