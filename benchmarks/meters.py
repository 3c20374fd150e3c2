"""Meter polling figures (docs/BENCHMARKS.md quotes them):

- per profile: Modbus requests and bytes on the wire (RTU) per poll, beside the minimum its
  registers need (every needed register in one request, nothing else);
- time for one full poll at 9600 baud across a pty pair paced at the line's speed;
- dead meter to the MeterFailure event, in the running daemon, for a Modbus TCP meter.

Run with `scripts/bench` (or `python -m benchmarks.meters`).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from hal.meters import known_models
from hal.meters.profile import load
from hal.modbus import Endpoint, open_meter
from rig.backend import Backend
from rig.broker import Broker
from rig.meter import ServedMeter
from rig.pile import PileProcess

RTU_REQUEST = 8  # unit, function, address, count, CRC
RTU_RESPONSE_OVERHEAD = 5  # unit, function, byte count, CRC


def poll_figures(model: str, polls: int = 5) -> tuple[int, int, float]:
    served = ServedMeter(model)
    device = served.serve_rtu(baudrate=9600, wire_speed=True)
    try:
        meter = open_meter(model, Endpoint("rtu", device=device), 1)
        meter.read()  # opens the line
        served.requests = served.bytes_on_wire = 0
        times = []
        for _ in range(polls):
            started = time.monotonic()
            meter.read()
            times.append(time.monotonic() - started)
        meter.close()
        return served.requests // polls, served.bytes_on_wire // polls, statistics.median(times)
    finally:
        served.stop()


def minimum_bytes(model: str) -> int:
    needed = sum(f.registers for f in load(model).fields())
    return RTU_REQUEST + RTU_RESPONSE_OVERHEAD + 2 * needed


def dead_meter_to_fault() -> float:
    with tempfile.TemporaryDirectory() as tmp, Broker(Path(tmp) / "broker") as broker:
        served = ServedMeter("sdm630")
        port = served.serve_tcp()
        line = (
            f'meter = {{ model = "sdm630", transport = "tcp", host = "127.0.0.1", '
            f"port = {port}, unit = 1 }}"
        )
        pile = PileProcess(Path(tmp) / "pile", broker.port, meters={1: line}).start()
        backend = Backend(broker.port, pile.pile_id).connect()
        try:
            pile.wait_until(lambda r: r["connectors"][0]["meter"] is not None)
            mark = backend.mark()
            died = time.monotonic()
            served.stop()
            fault = backend.wait(
                lambda m: isinstance(m.payload, dict) and m.payload.get("type") == "fault.raised",
                30,
                since=mark,
            )
            return fault.at - died
        finally:
            backend.close()
            pile.stop()


def main() -> None:
    print(
        f"{'model':<8} {'requests':>8} {'bytes/poll':>10} {'minimum':>8} {'poll at 9600 baud':>18}"
    )
    for model in sorted(known_models() - {"sim"}):
        requests, on_wire, poll_s = poll_figures(model)
        print(
            f"{model:<8} {requests:>8} {on_wire:>10} {minimum_bytes(model):>8} "
            f"{poll_s * 1000:>15.0f} ms"
        )
    print(
        f"dead Modbus TCP meter to MeterFailure (stale_after_s = 5): {dead_meter_to_fault():.2f} s"
    )


if __name__ == "__main__":
    main()
