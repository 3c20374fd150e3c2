"""A stand-in for python-evdev on a machine with no keypad (tests only): `InputDevice(path)`
yields the key events a test queues with `press(path, *codes)`."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from dataclasses import dataclass

from evdev import ecodes

_queues: dict[str, queue.Queue[InputEvent | None]] = {}


@dataclass
class InputEvent:
    type: int
    code: int
    value: int  # 1 down, 0 up, 2 repeat


def _queue(path: str) -> queue.Queue[InputEvent | None]:
    return _queues.setdefault(path, queue.Queue())


class InputDevice:
    def __init__(self, path: str):
        self.path = path
        self.name = "fake keypad"

    def read_loop(self) -> Iterator[InputEvent]:
        while (event := _queue(self.path).get()) is not None:
            yield event

    def grab(self) -> None:
        pass

    def close(self) -> None:
        _queue(self.path).put(None)


def press(path: str, *codes: int) -> None:
    """Each key pressed and released, as a keypad sends it."""
    for code in codes:
        _queue(path).put(InputEvent(ecodes.EV_KEY, code, 1))
        _queue(path).put(InputEvent(ecodes.EV_KEY, code, 0))
