"""The world around a fake Raspberry Pi, for a daemon running in another process over the fake
RPi.GPIO, spidev and evdev (tests only). $FAKE_BOARD names a JSON file saying how the board
starts: `{"socket": PATH, "busy": [pins], "spi": [[bus, device], ...], "wires": [[out, when,
pin, level], ...], "levels": {pin: level}}`. A test then talks to PATH, one JSON object per
line each way:

    {"op": "drive", "pin": 4, "level": 0}          an input moves (a button, the e-stop loop)
    {"op": "level", "pin": 5}                      -> {"level": 1}: where an output stands
    {"op": "wire", "out": 5, "when": 1, "pin": 6, "level": 1}   wiring (a mirror contact)
    {"op": "unwire", "out": 5, "when": 0}          cut it (a welded contactor stays closed)
    {"op": "pilot", "bus": 0, "device": 0, "channel": 0, "high": 6.0, "low": -12.0}
    {"op": "press", "path": "/dev/input/...", "codes": [2, 3, 28]}   keys on a keypad
    {"op": "settle"}                               every edge so far has had its callback
"""

from __future__ import annotations

import json
import socketserver
import threading
from pathlib import Path
from typing import Any

import evdev
import RPi.GPIO as GPIO  # noqa: N814
import spidev


def serve(config_path: str) -> None:
    board = json.loads(Path(config_path).read_text())
    GPIO.busy.update(board.get("busy", []))
    if "spi" in board:
        spidev.devices.clear()
        spidev.devices.update(tuple(d) for d in board["spi"])
    for out, when, pin, level in board.get("wires", []):
        GPIO.wire(out, when, pin, level)
    for pin, level in board.get("levels", {}).items():  # inputs as they stand at power-on
        GPIO.drive(int(pin), level)
    server = socketserver.ThreadingUnixStreamServer(board["socket"], Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="fake-board", daemon=True).start()


class Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            try:
                answer = {"ok": True, **(act(json.loads(line)) or {})}
            except Exception as exc:  # the test sees what went wrong
                answer = {"ok": False, "error": repr(exc)}
            self.wfile.write(json.dumps(answer).encode() + b"\n")


def act(r: dict[str, Any]) -> dict[str, Any] | None:
    match r["op"]:
        case "drive":
            GPIO.drive(r["pin"], r["level"])
        case "level":
            return {"level": GPIO.level(r["pin"])}
        case "wire":
            GPIO.wire(r["out"], r["when"], r["pin"], r["level"])
        case "unwire":
            GPIO.unwire(r["out"], r["when"])
        case "pilot":
            spidev.set_pilot(r["bus"], r["device"], r["channel"], r["high"], r["low"])
        case "resistor":
            spidev.set_resistor(r["bus"], r["device"], r["channel"], r["ohms"], r["pullup"])
        case "press":
            evdev.press(r["path"], *r["codes"])  # type: ignore[attr-defined]
        case "settle":
            GPIO.settle()
        case _:
            raise ValueError(f"unknown op {r['op']!r}")
    return None
