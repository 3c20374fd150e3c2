"""Code entry on a Linux input device (a fake evdev here): the core hears how many digits are
typed, for the screen's dots, and the code only on enter; the screen never shows a digit."""

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent / "fakes"))

import evdev  # noqa: E402
from evdev import ecodes  # noqa: E402

from hal.rpi.keypad import Keypad  # noqa: E402
from pile_controller.core import events as ev  # noqa: E402
from pile_controller.screen.screens import screen_for  # noqa: E402
from rig.bench import Bench  # noqa: E402
from rig.gallery import START  # noqa: E402


def typed(*codes: int) -> list[Any]:
    heard: list[Any] = []
    path = f"/dev/input/fake-keypad-{len(codes)}-{codes[0]}"  # a keypad of each test's own
    keypad = Keypad(path, 1, heard.append)
    keypad.start()
    evdev.press(path, *codes)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 2
    while len(heard) < len([c for c in codes if c != ecodes.KEY_ENTER]) + (
        ecodes.KEY_ENTER in codes
    ):
        assert time.monotonic() < deadline, heard
        time.sleep(0.005)
    keypad.close()
    return heard


def test_digits_are_counted_and_the_code_comes_on_enter() -> None:
    heard = typed(ecodes.KEY_2, ecodes.KEY_4, ecodes.KEY_KP6, ecodes.KEY_8, ecodes.KEY_ENTER)
    assert heard == [
        ev.KeysTyped(1, 1),
        ev.KeysTyped(1, 2),
        ev.KeysTyped(1, 3),
        ev.KeysTyped(1, 4),
        ev.CodeEntered(1, "2468"),
    ]


def test_backspace_takes_the_last_digit_back() -> None:
    heard = typed(ecodes.KEY_1, ecodes.KEY_2, ecodes.KEY_BACKSPACE, ecodes.KEY_3, ecodes.KEY_ENTER)
    assert heard[-1] == ev.CodeEntered(1, "13")
    assert ev.KeysTyped(1, 1) in heard[2:]


def test_each_keystroke_is_a_dot_on_the_screen_never_the_digit() -> None:
    b = Bench()
    b.reserve(1, code="2468")
    b.do("plug")
    b.feed(ev.KeysTyped(1, 3))
    screen = screen_for(b.c(1), b.now, START, "")
    field = screen.lines[0]
    assert field.en == "Code ● ● ● _ _ _" and "2" not in field.en
    b.feed(ev.CodeEntered(1, "2468"))
    assert b.c(1).typed == 0 and b.c(1).state == "charging"
