"""Screen rendering figures (docs/BENCHMARKS.md quotes them): time to draw each state's screen,
and a countdown redraw (the charging screen one second later), in the panel sizes we support;
plus the RGB565 conversion a 16 bpp framebuffer needs. Target: 30 ms a frame.

Run with `scripts/bench` (or `python -m benchmarks.screens`).
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from hal.framebuffer import Framebuffer
from pile_controller.screen.fonts import find_font
from pile_controller.screen.render import (
    bbox,
    length,
    pixels,
    qr_picture,
    render,
    shaped_size,
)
from pile_controller.screen.screens import Screen, Text
from rig.gallery import every_state

RUNS = 30


def median_ms(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def cold() -> None:
    """Forgets every measure and line the renderer keeps: a screen drawn the first time (its
    font faces are whichever four the renderer kept, as in the daemon)."""
    for cached in (shaped_size, bbox, length, pixels, qr_picture):
        cached.cache_clear()


def time_screen(screen: Screen, width: int, height: int, font: Path) -> float:
    def first_time() -> None:
        cold()
        render(screen, width, height, "both", font)

    return median_ms(first_time)


def countdown(screen: Screen) -> Iterator[Screen]:
    """The charging screen second after second: its clock line changes, the rest stays."""
    for second in itertools.count():
        clock = Text(
            f"时长 {second // 60}:{second % 60:02d}", f"Time {second // 60}:{second % 60:02d}"
        )
        lines = tuple(clock if "时长" in line.zh else line for line in screen.lines)
        yield dataclasses.replace(screen, lines=lines)


def main() -> None:
    font = find_font("WenQuanYi Micro Hei")
    screens = every_state()
    for width, height in ((480, 320), (800, 480), (320, 240)):
        figures = {state: time_screen(s, width, height, font) for state, s in screens.items()}
        slowest = max(figures, key=lambda k: figures[k])
        print(
            f"{width}x{height} both languages: median {statistics.median(figures.values()):.1f}"
            f" ms a screen, slowest {slowest} {figures[slowest]:.1f} ms"
        )
    with tempfile.TemporaryDirectory() as tmp:
        sysfs = Path(tmp) / "fb0"
        sysfs.mkdir()
        (sysfs / "virtual_size").write_text("480,320")
        (sysfs / "bits_per_pixel").write_text("16")
        fb = Framebuffer(Path(tmp) / "fb0", Path(tmp))
        image = render(screens["charging"], 480, 320, "both", font).image
        seconds = countdown(screens["charging"])
        print(
            f"480x320 countdown redraw (charging screen, the next second each time): "
            f"{median_ms(lambda: render(next(seconds), 480, 320, 'both', font)):.1f} ms "
            f"+ RGB565 conversion {median_ms(lambda: fb.frame(image)):.1f} ms"
        )


if __name__ == "__main__":
    main()
