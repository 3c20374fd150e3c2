"""Screen rendering figures (docs/BENCHMARKS.md quotes them): time to draw each state's screen,
and a countdown redraw (the charging screen one second later), in the panel sizes we support;
plus the RGB565 conversion a 16 bpp framebuffer needs. Target: 30 ms a frame.

Run with `scripts/bench` (or `python -m benchmarks.screens`).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hal.framebuffer import Framebuffer
from pile_controller.render import find_font, render
from pile_controller.screens import Screen
from rig.gallery import every_state

RUNS = 30


def median_ms(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def time_screen(screen: Screen, width: int, height: int, font: Path) -> float:
    return median_ms(lambda: render(screen, width, height, "both", font))


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
        print(
            f"480x320 countdown redraw (charging screen): "
            f"{median_ms(lambda: render(screens['charging'], 480, 320, 'both', font)):.1f} ms "
            f"+ RGB565 conversion {median_ms(lambda: fb.frame(image)):.1f} ms"
        )


if __name__ == "__main__":
    main()
