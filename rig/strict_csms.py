"""The second central system we did not write: npm's `ocpp-rpc` in strict mode
(tests/partners/ocpp-rpc/csms.js, on Debian's Node), which checks every message in both
directions against the official schemas of its OCPP version (1.6 or 2.0.1) and names a breach as
that version does. Run as a
process; it tells us every frame and every breach in JSON lines."""

from __future__ import annotations

import itertools
import json
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from rig.broker import free_port

HERE = Path(__file__).resolve().parent.parent / "tests" / "partners" / "ocpp-rpc"


class StrictCsms:
    def __init__(self, protocol: str = "ocpp1.6") -> None:
        self.protocol = protocol  # the OCPP version whose schemas it checks
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}/ocpp"
        self.frames: list[tuple[bool, list[Any]]] = []  # (outbound from the CSMS, frame)
        self.breaches: list[str] = []
        self.connected = threading.Event()
        self._results: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._refs = itertools.count(1)
        self._lock = threading.Lock()
        self._listening = threading.Event()

    def start(self) -> StrictCsms:
        self.process = subprocess.Popen(
            ["node", str(HERE / "csms.js"), str(self.port), self.protocol],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=HERE,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self._listening.wait(15):
            raise RuntimeError("the strict CSMS did not start")
        return self

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            said = json.loads(line)
            match said["event"]:
                case "listening":
                    self._listening.set()
                case "connected":
                    self.connected.set()
                case "message":
                    with self._lock:
                        self.frames.append((said["outbound"], said["frame"]))
                case "breach":
                    with self._lock:
                        self.breaches.append(said["error"])
                case "result":
                    self._results[said["ref"]].put(said)

    def calls(self, action: str) -> list[dict[str, Any]]:
        with self._lock:
            frames = list(self.frames)
        return [f[3] for out, f in frames if not out and f[0] == 2 and f[2] == action]

    def wait(self, action: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for payload in self.calls(action):
                if all(payload.get(k) == v for k, v in fields.items()):
                    return payload
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {action} with {fields}; breaches: {self.breaches}")
            time.sleep(0.02)

    def call(self, method: str, params: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
        """A CALL to the pile: {"result": ...} or {"error": "<the OCPP error name>"}."""
        ref = next(self._refs)
        self._results[ref] = queue.Queue()
        assert self.process.stdin is not None
        self.process.stdin.write(
            json.dumps({"ref": ref, "method": method, "params": params}) + "\n"
        )
        self.process.stdin.flush()
        return self._results[ref].get(timeout=timeout)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=5)
