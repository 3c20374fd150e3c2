"""Benchmarks of the daemon on this machine; prints figures (docs/BENCHMARKS.md quotes them).

- boot: process start to the retained `online` birth on the broker (and to the control socket);
- reply latency: `reserve` command -> reply, p50/p99 over N commands, beside the broker's own
  publish -> receive round trip measured in the same run with the same client and QoS, and
  beside a bare paho echo (`benchmarks.echo`): a command and reply with no work in between;
- RSS and idle CPU of the daemon with two connectors.

Run with `scripts/bench` (or `python -m benchmarks.run --commands 1000`).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.echo import COMMANDS, REPLIES
from pile_controller.core.times import iso
from rig.backend import Backend
from rig.broker import Broker
from rig.pile import PileProcess

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cpu_quota(percent: int) -> list[str] | None:
    """A command prefix that runs a process in a cgroup limited to `percent` of one core
    (cgroup v2's cpu.max, or v1's cfs quota); None where no cgroup can be made here."""
    v2, v1 = Path("/sys/fs/cgroup/pile-bench"), Path("/sys/fs/cgroup/cpu/pile-bench")
    try:
        if Path("/sys/fs/cgroup/cgroup.controllers").exists():
            v2.mkdir(exist_ok=True)
            (v2 / "cpu.max").write_text(f"{percent * 1000} 100000\n")
            procs = v2 / "cgroup.procs"
        else:
            v1.mkdir(exist_ok=True)
            (v1 / "cpu.cfs_period_us").write_text("100000\n")
            (v1 / "cpu.cfs_quota_us").write_text(f"{percent * 1000}\n")
            procs = v1 / "cgroup.procs"
    except OSError:
        return None
    return ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh"]


def cache_bytecode() -> None:
    """Compiles the project's modules as pip does at install (this machine's environment may
    set PYTHONDONTWRITEBYTECODE, and then every start would compile them anew), and their
    dataclasses' methods as scripts/install does (`pile-controller prepare`)."""
    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            str(root / "pile_controller"),
            str(root / "hal"),
        ],
        check=True,
    )
    subprocess.run(
        [sys.executable, "-m", "pile_controller", "prepare"], check=True, capture_output=True
    )


def boot_times(
    workdir: Path, broker: Broker, runs: int, prefix: list[str] | None = None, **options: Any
) -> tuple[list[float], list[float]]:
    cache_bytecode()
    to_birth, to_socket = [], []
    for i in range(runs):
        # A pile id of its own: a retained birth of an earlier boot must not be taken for it.
        pile_id = f"BOOT-{workdir.name}-{i}"
        pile = PileProcess(workdir / f"boot{i}", broker.port, pile_id=pile_id, **options)
        watcher = Backend(broker.port, pile.pile_id).connect()
        time.sleep(0.2)  # subscribed before the daemon starts
        started = time.monotonic()
        pile.start(prefix=prefix)
        to_socket.append(time.monotonic() - started)
        to_birth.append(watcher.wait(lambda m: m.topic.endswith("/online")).at - started)
        pile.stop()
        watcher.close()
    return to_birth, to_socket


def broker_round_trips(broker: Broker, n: int) -> list[float]:
    client = Backend(broker.port, "ECHO").connect()
    client.client.subscribe("bench/echo", qos=1)
    time.sleep(0.2)
    times = []
    for i in range(n):
        mark = client.mark()
        sent = time.monotonic()
        client.client.publish("bench/echo", f'{{"i":{i}}}', qos=1)
        times.append(client.wait(lambda m: m.topic == "bench/echo", since=mark).at - sent)
    client.close()
    return times


def echo_round_trips(broker: Broker, n: int) -> list[float]:
    echo = subprocess.Popen([sys.executable, "-m", "benchmarks.echo", str(broker.port)])
    client = Backend(broker.port, "ECHO").connect()
    client.client.subscribe(REPLIES, qos=1)
    try:
        for _ in range(50):  # until the echo has subscribed
            mark = client.mark()
            client.client.publish(COMMANDS, "{}", qos=1)
            try:
                client.wait(lambda m: m.topic == REPLIES, timeout=0.2, since=mark)
                break
            except TimeoutError:
                continue
        times = []
        for i in range(n):
            mark = client.mark()
            sent = time.monotonic()
            client.client.publish(COMMANDS, f'{{"i":{i}}}', qos=1)
            times.append(client.wait(lambda m: m.topic == REPLIES, since=mark).at - sent)
        return times
    finally:
        client.close()
        echo.terminate()
        echo.wait()


def reply_latencies(backend: Backend, n: int) -> list[float]:
    expires = iso(datetime.now(UTC) + timedelta(hours=1))
    times = []
    topic = f"{backend.base}/cmd/reserve"
    for _ in range(n):
        rid = str(uuid.uuid4())
        cid, payload = backend.envelope(
            connector=1, reservation_id=rid, code="1234", id_token="bench", expires_at=expires
        )
        mark = backend.mark()
        sent = time.monotonic()  # timed from the publish, as the broker's baseline is
        backend.client.publish(topic, payload, qos=1)
        reply = backend.wait(
            lambda m, cid=cid: (
                isinstance(m.payload, dict)  # type: ignore[misc]
                and m.topic.endswith("/replies")
                and m.payload.get("id") == cid
            ),
            since=mark,  # as the broker's baseline: no rescanning of every message seen before
        )
        times.append(reply.at - sent)
        assert reply.payload["status"] == "Accepted", reply.payload
        backend.ask("cancel_reservation", reservation_id=rid)
    return times


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--boots", type=int, default=5)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU sampling")
    args = parser.parse_args()
    ms = 1000.0
    with tempfile.TemporaryDirectory() as tmp, Broker(Path(tmp) / "broker") as broker:
        workdir = Path(tmp)
        # The field config (issue #20): two Modbus meters and the png screens (on a tmpfs).
        from benchmarks.footprint import served_meters  # which imports this module

        served, meters = served_meters()
        field = {
            "meters": meters,
            "display": "png",
            "display_path": "/dev/shm/boot-{connector}.png",
        }
        for quota, (config, options) in itertools.product(
            (None, 25), [("sim", {}), ("field", field)]
        ):
            prefix = cpu_quota(quota) if quota else None
            if quota and prefix is None:
                print("boot at 25 % of a core: no cgroup can be made here")
                continue
            where = workdir / f"q{quota}-{config}"
            birth, socket_up = boot_times(where, broker, args.boots, prefix, **options)
            print(
                f"boot to retained online birth, {config} config"
                f"{f' at {quota} % of a core' if quota else ''}: "
                f"median {statistics.median(birth) * ms:.0f} ms, max {max(birth) * ms:.0f} ms "
                f"({args.boots} boots; control socket up: median "
                f"{statistics.median(socket_up) * ms:.0f} ms)"
            )
        for meter in served:
            meter.stop()

        pile = PileProcess(workdir / "main", broker.port).start()
        backend = Backend(broker.port, pile.pile_id).connect()
        backend.online()
        rtt = broker_round_trips(broker, args.commands)
        echo = echo_round_trips(broker, args.commands)
        replies = reply_latencies(backend, args.commands)
        print(
            f"broker publish->receive round trip: p50 {statistics.median(rtt) * ms:.2f} ms, "
            f"p99 {percentile(rtt, 99) * ms:.2f} ms ({args.commands} messages, QoS 1)"
        )
        print(
            f"bare echo command -> reply: p50 {statistics.median(echo) * ms:.2f} ms, "
            f"p99 {percentile(echo, 99) * ms:.2f} ms "
            f"({percentile(echo, 99) / percentile(rtt, 99):.1f} x the broker's p99)"
        )
        print(
            f"reserve -> reply: p50 {statistics.median(replies) * ms:.2f} ms, "
            f"p99 {percentile(replies, 99) * ms:.2f} ms ({args.commands} commands); "
            f"p99 is {percentile(replies, 99) / percentile(rtt, 99):.1f} x the broker's p99"
        )

        assert pile.process is not None
        pid = pile.process.pid
        backend.close()
        time.sleep(1.0)
        before, started = cpu_seconds(pid), time.monotonic()
        threading.Event().wait(args.idle)
        idle = (cpu_seconds(pid) - before) / (time.monotonic() - started)
        print(
            f"daemon with 2 connectors: RSS {rss_mb(pid):.1f} MB after the run; idle CPU "
            f"{idle * 100:.2f} % of one core over {args.idle:.0f} s"
        )
        pile.stop()


if __name__ == "__main__":
    main()
