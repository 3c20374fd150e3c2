"""The demo: a local mosquitto, the daemon on simulated hardware, and a scripted backend that
walks one driver through reserve -> plug -> code -> charge -> stop -> payment QR -> pay ->
unlock -> unplug, printing every message as it crosses the wire.

Run it with `scripts/demo` (which installs what it needs); `scripts/demo --ocpp` walks the same
cycle on OCPP 1.6J with a local CSMS instead (rig/demo_ocpp.py), `--ocpp 2.0.1` on OCPP 2.0.1
(rig/demo_ocpp201.py). `--keep` leaves the state folder,
with the screens the pile drew (screen-1.png), for a look afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pile_controller.core.times import iso
from rig.backend import Backend, Message
from rig.broker import Broker
from rig.pile import PileProcess

T0 = time.monotonic()


def say(who: str, text: str) -> None:
    print(f"{time.monotonic() - T0:6.2f}s  {who:<9} {text}", flush=True)


def narrate(base: str, m: Message) -> None:
    topic, p = m.topic.removeprefix(base + "/"), m.payload
    if not isinstance(p, dict):
        return
    if topic == "events":
        data = ", ".join(f"{k}={v}" for k, v in p["data"].items() if k != "receipt")
        say("pile", f"event #{p['seq']} {p['type']}: {data}")
    elif topic.endswith("/status"):
        extra = (
            f" ({p['energy_wh'] / 1000:.2f} kWh, {p['cost']} {p['currency']})"
            if p["transaction_id"]
            else ""
        )
        say("pile", f"connector {p['connector']} is {p['state']} [{p['status']}]{extra}")
    elif topic == "replies":
        say("pile", f"reply to {p['id'][:8]}: {p['status']} {p.get('reason') or ''}")
    elif topic == "online" and p.get("online"):
        say("pile", f"online: pile {p['pile']}, connectors {p['connectors']}")


def walk(backend: Backend, pile: PileProcess) -> None:
    def command(name: str, **fields: Any) -> dict[str, Any]:
        say("backend", f"{name} {fields}")
        return backend.reply(backend.command(name, **fields))

    backend.online()
    expires = iso(datetime.now(UTC) + timedelta(minutes=30))
    command(
        "reserve",
        connector=1,
        reservation_id="R-1001",
        code="246810",
        id_token="alice-app",
        expires_at=expires,
    )
    backend.status(1, state="reserved")

    say("driver", "arrives at connector 1 and plugs in")
    pile.sim("plug", 1)
    backend.status(1, state="authenticating")
    say("driver", "types the appointment code 246810")
    pile.sim("code", 1, "246810")
    tx = backend.event("transaction.started")["data"]["transaction_id"]
    backend.status(1, state="charging")

    say("demo", "the vehicle charges at 7 kW; skipping ahead 45 minutes")
    pile.sim("clock", "+2700")
    say("driver", "presses the stop button")
    pile.sim("stop-button", 1)
    request = backend.event("payment.requested", transaction_id=tx)["data"]
    say("screen", f"shows a payment QR code: {request['qr_payload']}")

    say("driver", "scans it and pays in the app")
    command("payment", transaction_id=tx, status="paid", amount=request["amount"])
    backend.event("cable.unlocked", transaction_id=tx)
    say("driver", "unplugs the cable")
    mark = backend.mark()
    pile.sim("unplug", 1)
    backend.status(1, state="idle", since=mark)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the state folder")
    parser.add_argument(
        "--ocpp",
        nargs="?",
        const="1.6",
        choices=("1.6", "2.0.1"),
        help="the same cycle on OCPP (1.6J, or 2.0.1), with a local CSMS",
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="pile-demo-"))
    try:
        if args.ocpp:
            from rig import demo_ocpp, demo_ocpp201

            try:
                (demo_ocpp201 if args.ocpp == "2.0.1" else demo_ocpp).run(workdir, say)
            except TimeoutError as exc:
                print(f"demo failed: {exc}", file=sys.stderr)
                return 1
            say("demo", f"done: reserve -> charge -> pay -> unlock -> unplug, on OCPP {args.ocpp}")
            return 0
        with Broker(workdir / "broker") as broker:
            say("demo", f"mosquitto on 127.0.0.1:{broker.port}")
            pile = PileProcess(workdir, broker.port, display="png").start()
            backend = Backend(broker.port, pile.pile_id)
            backend.listeners.append(lambda m: narrate(backend.base, m))
            backend.connect()
            try:
                walk(backend, pile)
                say("demo", "done: reserve -> charge -> pay -> unlock -> unplug")
            except TimeoutError as exc:
                print(f"demo failed: {exc}\n--- daemon log ---\n{pile.logs()}", file=sys.stderr)
                return 1
            finally:
                backend.close()
                pile.stop()
    finally:
        if args.keep:
            print(f"state, screens and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
