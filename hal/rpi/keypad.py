"""A code-entry keypad as a Linux input device (evdev): a USB keypad and a GPIO matrix keypad
(the `matrix-keypad` overlay) both appear as one. Digits, backspace and enter.

The digits stay here until enter: the core hears only how many are typed (`KeysTyped`, for
the screen's dots) and then the code (`CodeEntered`); no keystroke is ever logged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import evdev
from evdev import ecodes

from hal import events as ev

DIGITS = {
    **{getattr(ecodes, f"KEY_{d}"): str(d) for d in range(10)},
    **{getattr(ecodes, f"KEY_KP{d}"): str(d) for d in range(10)},
}
ENTER = {ecodes.KEY_ENTER, ecodes.KEY_KPENTER}
MAX_DIGITS = 12  # the longest booking code


class Keypad:
    def __init__(self, path: str, cid: int, report: Callable[[ev.Report], None]):
        self.device = evdev.InputDevice(path)
        self.cid, self.report = cid, report
        self.digits = ""
        self._thread = threading.Thread(target=self._read, name=f"keypad-{cid}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.device.close()

    def _read(self) -> None:
        for event in self.device.read_loop():
            if event.type == ecodes.EV_KEY and event.value == 1:  # key down
                self.key(event.code)

    def key(self, code: int) -> None:
        if code in DIGITS and len(self.digits) < MAX_DIGITS:
            self.digits += DIGITS[code]
        elif code == ecodes.KEY_BACKSPACE:
            self.digits = self.digits[:-1]
        elif code in ENTER and self.digits:
            digits, self.digits = self.digits, ""
            self.report(ev.CodeEntered(self.cid, digits))
            return
        else:
            return
        self.report(ev.KeysTyped(self.cid, len(self.digits)))
