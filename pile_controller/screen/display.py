"""Putting screens on the pile's panel: the `png`, `framebuffer` and `none` drivers.

A connector's screen is redrawn only when its content changes; the daemon asks once a second,
so a countdown or a charging screen changes (and is redrawn) once a second, an idle one never.
Pillow and the renderer are imported only by a display that draws (not by `none`).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pile_controller.config import Settings
from pile_controller.core.connector import Connector
from pile_controller.screen.screens import Screen, screen_for

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)


class Panel(Protocol):
    size: tuple[int, int]

    def put(self, connector: int, image: Image.Image) -> None: ...


class PngPanel:
    """Each connector's screen as a PNG file, replaced atomically (temp file, then rename)."""

    def __init__(self, path_template: str, size: tuple[int, int]):
        self.path_template, self.size = path_template, size

    def put(self, connector: int, image: Image.Image) -> None:
        path = Path(self.path_template.format(connector=connector))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        image.save(tmp, format="PNG", compress_level=1)  # 40 % less CPU, no larger here
        os.replace(tmp, path)


class FramebufferPanel:
    """`/dev/fbN` per connector (display.path, e.g. "/dev/fb{connector}")."""

    def __init__(self, path_template: str, connectors: list[int]):
        from hal.framebuffer import Framebuffer

        self.panels = {c: Framebuffer(Path(path_template.format(connector=c))) for c in connectors}
        self.size = next(iter(self.panels.values())).size

    def put(self, connector: int, image: Image.Image) -> None:
        self.panels[connector].show(image)


class Display:
    def __init__(self, settings: Settings, panel: Panel, font: Path):
        self.panel, self.font = panel, font
        self.language = settings.display.language
        self.support = settings.display.support
        self.start_template = settings.display.start_url_template
        self.pile_id = settings.pile.id
        self.shown: dict[int, Screen] = {}
        self.problems: dict[int, str] = {}  # why a connector's last picture was not shown

    def screen(self, connector: Connector, now: datetime, online: bool = True) -> Screen:
        start_url = self.start_template.format(
            pile_id=self.pile_id, connector=connector.id, transaction_id="", amount="", currency=""
        )
        return screen_for(connector, now, start_url, self.support, online)

    def show(self, connector: Connector, now: datetime, online: bool = True) -> None:
        screen = self.screen(connector, now, online)
        if self.shown.get(connector.id) == screen:
            return
        self.shown[connector.id] = screen
        from pile_controller.screen.render import render

        width, height = self.panel.size
        try:
            self.panel.put(
                connector.id, render(screen, width, height, self.language, self.font).image
            )
            self.problems.pop(connector.id, None)
        except Exception as exc:  # a screen problem must never stop the pile
            problem = f"screen of connector {connector.id}: {exc}"
            if problem != self.problems.get(connector.id):  # once, not at every redraw
                log.warning("%s", problem)
            self.problems[connector.id] = problem


class NoDisplay:
    def show(self, connector: Connector, now: datetime, online: bool = True) -> None:
        pass


class DisplayError(Exception):
    """The display cannot be used (a font missing, a framebuffer unreadable): one line."""


def open_display(settings: Settings) -> Display | NoDisplay:
    """The configured display; DisplayError in one line."""
    d = settings.display
    if d.driver == "none":
        return NoDisplay()
    from hal.framebuffer import FramebufferError
    from pile_controller.screen.fonts import FontError, find_font

    try:
        font = find_font(d.font)
        panel: Panel
        if d.driver == "framebuffer":
            panel = FramebufferPanel(d.path, [c.id for c in settings.connectors])
        else:
            panel = PngPanel(d.path, (d.width, d.height))
    except (FontError, FramebufferError) as exc:
        raise DisplayError(str(exc)) from None
    return Display(settings, panel, font)
