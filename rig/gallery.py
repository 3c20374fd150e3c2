"""A picture of every screen, drawn by the real renderer: `python -m rig.gallery` writes them
to docs/screens/ (docs/SCREENS.md shows them). One connector on the simulated pile is walked
through every state, with an injected clock."""

from __future__ import annotations

import sys
from pathlib import Path

from pile_controller.core import commands as cmd
from pile_controller.screen.fonts import find_font
from pile_controller.screen.render import render
from pile_controller.screen.screens import Screen, screen_for
from rig.bench import Bench

START = "https://app.example.com/start?pile=P1&c=1"
SUPPORT = "400-800-1234"
OUT = Path(__file__).resolve().parent.parent / "docs" / "screens"


def every_state() -> dict[str, Screen]:
    """One connector walked through every state; the screen of each."""
    b = Bench()  # no release policy: the cable waits for payment
    c = b.c(1)
    shown = {
        "idle": screen_for(c, b.now, START, SUPPORT),
        "idle_offline": screen_for(c, b.now, START, SUPPORT, online=False),
    }

    def snap(name: str) -> None:
        shown[name] = screen_for(c, b.now, START, SUPPORT)

    b.reserve(1, rid="BOOKING-2026-11-22-0001", minutes=45)
    snap("reserved")
    b.do("plug")
    snap("authenticating")
    shown["authenticating_offline"] = screen_for(c, b.now, START, SUPPORT, online=False)
    for _ in range(5):
        b.do("code", 1, "000000")
    snap("locked_out")
    b.advance(300)
    b.do("code", 1, "123456")
    b.sim.ev_power(1, 350_000)  # it takes all the pilot offers (32 A, 22 kW)
    b.advance(48 * 3600, step=600)  # two days: long figures
    snap("charging")
    b.do("ev_power", 1, 0)
    b.advance(1)  # the meter's next reading: it draws nothing
    snap("paused_by_vehicle")
    b.command(cmd.SetLimit(1, 0.0))
    b.advance(1)
    snap("waiting_for_power")
    b.command(cmd.SetLimit(1, None))
    b.do("ev_power", 1, 350_000)
    b.do("stop_button")
    snap("awaiting_payment")
    shown["awaiting_payment_offline"] = screen_for(c, b.now, START, SUPPORT, online=False)
    b.pay()
    snap("unlocked")
    b.do("unplug")
    b.command(cmd.SetAvailability(1, False))
    snap("unavailable")
    b.command(cmd.SetAvailability(1, True))
    b.sim.kill_meter(1, True)
    b.advance(6)
    snap("faulted")
    return shown


def main() -> int:
    font = find_font("WenQuanYi Micro Hei")
    OUT.mkdir(parents=True, exist_ok=True)
    screens = every_state()
    for state, screen in screens.items():
        render(screen, 480, 320, "both", font).image.save(OUT / f"{state}.png", optimize=True)
    # The same screens on other panels and in one language.
    render(screens["charging"], 800, 480, "en", font).image.save(OUT / "charging-800x480-en.png")
    render(screens["awaiting_payment"], 320, 480, "zh", font).image.save(
        OUT / "awaiting_payment-320x480-zh.png"
    )
    print(f"{len(screens) + 2} screens written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
