"""The OCPP pile's figures (1.6J: issue #19; 2.0.1 with `--protocol ocpp2.0.1`: issue #21),
against a local CSMS (the mobilityhouse `ocpp` library, rig/csms.py and rig/csms201.py):

- boot: process start -> `BootNotification` accepted (the CSMS's answer on the wire),
  unthrottled and at 25 % of a core;
- two connectors charging, each metered by an SDM630 served over Modbus TCP, meter values every
  10 s: the OCPP pile's CPU, bytes written per connector per charging hour, and RSS beside the
  MQTT pile's on the same config;
- replay: 10,000 queued samples of a transaction (journaled while the CSMS was away) sent one
  CALL at a time after the pile connects (a transaction's samples in a row travel together, up
  to 50 in one MeterValues or TransactionEvent): samples per second.

Run with `python -m benchmarks.ocpp [--seconds 180] [--protocol ocpp2.0.1]` (`scripts/bench`
runs both).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ocpp.v16 import call
from ocpp.v201 import call as call201

from benchmarks.footprint import HOUR, served_meters, window
from benchmarks.run import cache_bytecode, cpu_quota, rss_mb
from pile_controller.core.published import MeterValues
from pile_controller.core.times import iso
from pile_controller.journal.store import Store
from rig.backend import Backend
from rig.broker import Broker
from rig.csms import Csms
from rig.csms201 import Csms201
from rig.pile import PileProcess
from tests.e2e.ocpp_rig import ocpp_options

REPLAYED = 10_000


def boot_to_accepted(
    workdir: Path, csms: Csms, runs: int, prefix: list[str] | None, protocol: str = "ocpp1.6"
) -> list[float]:
    cache_bytecode()
    times = []
    for i in range(runs):
        accepted: list[float] = []

        def seen(direction: str, frame: list[object], accepted: list[float] = accepted) -> None:
            answer = frame[2] if direction == ">" and frame[0] == 3 else None
            if (
                isinstance(answer, dict)
                and answer.get("status") == "Accepted"
                and "interval" in answer
            ):
                accepted.append(time.monotonic())

        csms.listeners[:] = [seen]
        options = ocpp_options(csms.url, protocol=protocol)
        pile = PileProcess(workdir / f"boot{i}", 1, connectors=2, **options)
        started = time.monotonic()
        pile.start(prefix=prefix)
        deadline = time.monotonic() + 10
        while not accepted and time.monotonic() < deadline:
            time.sleep(0.001)
        times.append(accepted[0] - started)
        pile.stop()
    csms.listeners.clear()
    return times


def charging(
    workdir: Path,
    meters: dict[int, str],
    csms: Csms | None,
    broker: Broker,
    interval_s: int = 10,
    protocol: str = "ocpp1.6",
) -> PileProcess:
    """Two connectors charging on MQTT (`csms` None) or OCPP (`protocol`)."""
    options = ocpp_options(csms.url, protocol=protocol) if csms else {}
    pile = PileProcess(workdir, broker.port, interval_s=interval_s, meters=meters, **options)
    pile.start()
    backend = None
    if csms:
        csms.wait_connected()
    else:
        backend = Backend(broker.port, pile.pile_id).connect()
        backend.online()
    for cid in (1, 2):
        pile.sim("plug", cid)
        if csms and protocol == "ocpp2.0.1":
            token = {"id_token": f"bench-{cid}", "type": "Central"}
            csms.call(
                call201.RequestStartTransaction(id_token=token, remote_start_id=cid, evse_id=cid)
            )
        elif csms:
            csms.call(call.RemoteStartTransaction(id_tag=f"bench-{cid}", connector_id=cid))
        else:
            assert backend is not None
            backend.ask("start", connector=cid, id_token=f"bench-{cid}")
        pile.sim("ev-power", cid, 7000)
    pile.wait_until(lambda r: all(c["state"] == "charging" for c in r["connectors"]))
    if backend:
        backend.close()
    time.sleep(2.0)
    return pile


class BareCsms:
    """A CSMS that only answers, at once and without checking anything: the replay's figure is
    then the pile's own (the `ocpp` library validates every frame with jsonschema, which takes
    longer than the pile's whole step)."""

    def __init__(self, protocol: str = "ocpp1.6") -> None:
        self.csms = Csms()  # its port, loop and thread; its server is replaced
        self.protocol = protocol
        self.samples = 0  # meterValues received
        self.url = self.csms.url

    def start(self) -> BareCsms:
        import websockets
        from websockets.typing import Subprotocol

        async def answer(ws: Any) -> None:
            async for text in ws:
                frame = json.loads(text)
                if frame[2] == "BootNotification":
                    body = {
                        "status": "Accepted",
                        "interval": 300,
                        "currentTime": iso(datetime.now(UTC)),
                    }
                else:
                    body = {}
                    self.samples += len(frame[3].get("meterValue", []))
                await ws.send(json.dumps([3, frame[1], body]))

        async def serve() -> None:
            self.server = await websockets.serve(
                answer, "127.0.0.1", self.csms.port, subprotocols=[Subprotocol(self.protocol)]
            )

        self.csms._thread.start()
        self.csms._run(serve())
        return self

    def stop(self) -> None:
        async def down() -> None:
            self.server.close()
            await self.server.wait_closed()

        self.csms._run(down())
        self.csms.loop.call_soon_threadsafe(self.csms.loop.stop)


def samples_seen(csms: Csms | BareCsms) -> int:
    if isinstance(csms, BareCsms):
        return csms.samples
    return sum(
        len(payload.get("meterValue", []))
        for action in ("MeterValues", "TransactionEvent")
        for payload in csms.calls(action)
    )


def replay(workdir: Path, csms: Csms | BareCsms, protocol: str = "ocpp1.6") -> float:
    """Samples per second: REPLAYED samples of one transaction, queued in the journal."""
    pile = PileProcess(workdir, 1, connectors=1, **ocpp_options(csms.url, protocol=protocol))
    pile.state.mkdir(parents=True, exist_ok=True)
    store = Store(pile.state / "journal.sqlite")
    t0 = datetime.now(UTC) - timedelta(days=2)
    samples = [
        MeterValues(
            1,
            t0 + timedelta(seconds=10 * i),
            "TX-R",
            1000 + i,
            7000.0,
            (230.0,) * 3,
            (10.0,) * 3,
            "Sample.Periodic",
        )
        for i in range(REPLAYED)
    ]
    for start in range(0, REPLAYED, 500):
        store.append_events(samples[start : start + 500])
    store.put({"ocpp16.transactions": json.dumps({"TX-R": 77})})
    store.sync()
    store.close()
    before = samples_seen(csms)
    pile.start()
    began = time.monotonic()
    deadline = began + 120
    while samples_seen(csms) - before < REPLAYED and time.monotonic() < deadline:
        time.sleep(0.05)
    elapsed = time.monotonic() - began
    sent = samples_seen(csms) - before
    pile.stop()
    return sent / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=5)
    # Longer than a minute: held samples and answers are committed once a minute.
    parser.add_argument("--seconds", type=float, default=180.0, help="the charging window")
    parser.add_argument(
        "--protocol",
        choices=("ocpp1.6", "ocpp2.0.1"),
        default="ocpp1.6",
    )
    args = parser.parse_args()
    ms = 1000.0
    served, meters = served_meters()
    csms = Csms201().start() if args.protocol == "ocpp2.0.1" else Csms().start()
    try:
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, Broker(Path(tmp) / "b") as broker:
            workdir = Path(tmp)
            for quota in (None, 25):
                prefix = cpu_quota(quota) if quota else None
                if quota and prefix is None:
                    print("boot at 25 % of a core: no cgroup can be made here")
                    continue
                boots = boot_to_accepted(
                    workdir / f"q{quota}", csms, args.boots, prefix, args.protocol
                )
                print(
                    f"{args.protocol} boot to BootNotification accepted"
                    f"{f' at {quota} % of a core' if quota else ''}: median "
                    f"{statistics.median(boots) * ms:.0f} ms, max {max(boots) * ms:.0f} ms "
                    f"({args.boots} boots)"
                )
            rss = {}
            for name, server in (("mqtt", None), (args.protocol, csms)):
                pile = charging(workdir / f"charge-{name}", meters, server, broker, 10, name)
                written, syncs, cpu = window(pile, args.seconds)
                assert pile.process is not None
                rss[name] = rss_mb(pile.process.pid)
                pile.stop()
                per_hour = HOUR / args.seconds / 2
                print(
                    f"{name}: two connectors charging, meter values every 10 s: CPU "
                    f"{cpu * 100:.2f} % of one core, {written * per_hour / 1e6:.2f} MB written "
                    f"and {syncs * per_hour:.0f} fsyncs per connector per charging hour, "
                    f"RSS {rss[name]:.1f} MB"
                )
            more = rss[args.protocol] - rss["mqtt"]
            print(f"{args.protocol} RSS over mqtt on the same config: {more:+.1f} MB")
            rate = replay(workdir / "replay", csms, args.protocol)
            bare = BareCsms(args.protocol).start()
            try:
                rate_bare = replay(workdir / "replay-bare", bare, args.protocol)
            finally:
                bare.stop()
            print(
                f"replay of {REPLAYED} queued samples, one CALL at a time: "
                f"{rate_bare:.0f} samples/s to a CSMS that only answers, "
                f"{rate:.0f} samples/s to the ocpp library's (which validates every frame)"
            )
    finally:
        csms.stop()
        for m in served:
            m.stop()


if __name__ == "__main__":
    main()
