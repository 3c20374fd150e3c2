"""The display: redraws only on change, says which font is missing, never stops the pile."""

import logging
from pathlib import Path

import pytest
from PIL import Image

from pile_controller.config import load
from pile_controller.screen.display import Display
from pile_controller.screen.fonts import FontError, find_font
from rig.bench import Bench
from rig.broker import free_port
from rig.pile import PileProcess, pile_controller


class CountingPanel:
    size = (480, 320)

    def __init__(self) -> None:
        self.frames: list[int] = []

    def put(self, connector: int, image: Image.Image) -> None:
        self.frames.append(connector)


def display(tmp_path: Path) -> tuple[Display, CountingPanel]:
    pile = PileProcess(tmp_path, free_port(), display="png")
    panel = CountingPanel()
    return Display(load(pile.config), panel, find_font("WenQuanYi Micro Hei")), panel


def test_an_idle_screen_is_drawn_once_and_a_countdown_every_second(tmp_path: Path) -> None:
    shown, panel = display(tmp_path)
    b = Bench()
    b.reserve(1, minutes=10)
    for _ in range(3):
        shown.show(b.c(1), b.now)
        shown.show(b.c(2), b.now)
        b.advance(1)
    assert panel.frames.count(2) == 1, "idle: drawn once"
    assert panel.frames.count(1) == 3, "reserved countdown: drawn every second"


def test_a_missing_font_is_named() -> None:
    with pytest.raises(FontError, match="font 'No Such Font' is not installed"):
        find_font("No Such Font")


def test_the_daemon_will_not_start_without_its_font_and_says_so(tmp_path: Path) -> None:
    pile = PileProcess(tmp_path, free_port(), display="png")
    text = pile.config.read_text().replace('driver = "png"', 'driver = "png"\nfont = "Nope Sans"')
    pile.config.write_text(text)
    run = pile_controller("--config", str(pile.config))
    assert run.returncode == 1
    assert run.stderr == (
        "pile-controller: display: font 'Nope Sans' is not installed (Debian: fonts-wqy-microhei)\n"
    )


def test_a_panel_that_cannot_be_written_is_one_log_line_not_one_a_redraw(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class FullPanel(CountingPanel):
        def put(self, connector: int, image: Image.Image) -> None:
            super().put(connector, image)
            raise OSError(28, "No space left on device")

    pile = PileProcess(tmp_path, free_port(), display="png")
    panel = FullPanel()
    shown = Display(load(pile.config), panel, find_font("WenQuanYi Micro Hei"))
    b = Bench()
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            shown.shown.clear()  # as if every second's picture were new
            shown.show(b.c(1), b.now)
            shown.show(b.c(2), b.now)
    assert len(panel.frames) == 10, "it keeps trying"
    assert [r.getMessage() for r in caplog.records] == [
        "screen of connector 1: [Errno 28] No space left on device",
        "screen of connector 2: [Errno 28] No space left on device",
    ]
    assert set(shown.problems) == {1, 2}
