"""pilectl: the technician's command line. Talks to the running daemon over its control socket.

Every failure is one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from hal.interfaces import MeterError
from hal.meters import known_models
from hal.sim import SIM_USAGE
from pile_controller import config
from pile_controller.core.faults import CATALOGUE

# A selftest moves every free connector's relay and lock and waits for their feedback.
TEST_TIMEOUT_S = 120


class CliError(Exception):
    pass


def socket_path(args: argparse.Namespace) -> Path:
    if args.socket:
        return Path(args.socket)
    path = Path(args.config) if args.config else config.default_path()
    try:
        return config.load(path).control.socket
    except config.ConfigError as exc:
        raise CliError(f"{exc.problems[0]} (or give --socket PATH)") from None


def ask(path: Path, request: dict[str, Any], timeout_s: float = 5) -> dict[str, Any]:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout_s)
            s.connect(str(path))
            # A refusal hangs up before reading the request: its one line waits below.
            with contextlib.suppress(BrokenPipeError):
                s.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except (FileNotFoundError, ConnectionRefusedError):
        raise CliError(f"the daemon is not running (no control socket at {path})") from None
    except PermissionError:
        raise CliError(f"no permission to use {path} (run as root or in the pile group)") from None
    except OSError as exc:
        raise CliError(f"cannot talk to the daemon at {path}: {exc.strerror or exc}") from None
    try:
        answer = json.loads(data)
    except ValueError:
        raise CliError("the daemon gave no answer") from None
    if not answer.get("ok"):
        raise CliError(str(answer.get("error", "the daemon refused")))
    answer.pop("ok")
    return dict(answer)


def show_status(report: dict[str, Any]) -> str:
    backend = report["backend"]
    lines = [
        f"pile {report['pile_id']}  backend: {backend.get('protocol', 'mqtt')} "
        f"{backend.get('peer', '')}  "
        f"{'connected' if backend['connected'] else 'DISCONNECTED'}  "
        f"{'queue' if backend.get('protocol', 'mqtt') != 'mqtt' else 'outbox'}: {backend['outbox']}"
    ]
    row = "{:>2}  {:<16} {:<13} {:<12} {:<28} {:>10} {:>8} {:>8}  {:<6} {:<8} {:<9} {}"
    lines.append(
        row.format(
            "#",
            "state",
            "status",
            "reservation",
            "transaction",
            "energy",
            "power",
            "cost",
            "relay",
            "lock",
            "pilot",
            "fault",
        )
    )
    for c in report["connectors"]:
        fault = c["fault"]["code"] if c["fault"] else "-"
        lines.append(
            row.format(
                c["id"],
                c["state"],
                c["status"],
                c["reservation_id"] or "-",
                c["transaction_id"] or "-",
                f"{c['energy_wh'] / 1000:.3f} kWh",
                f"{c['power_w'] / 1000:.1f} kW",
                c["cost"] or "-",
                "closed" if c["relay_closed"] else "open",
                "locked" if c["cable_locked"] else "free",
                show_pilot(c),
                fault,
            )
        )
    for c in report["connectors"]:
        lines.append(f"meter {c['id']}: {show_meter(c.get('meter'))}")
    for c in report["connectors"]:
        if c["fault"]:
            lines.append(f"fault {c['id']}: {show_fault(c['fault'])}")
    return "\n".join(lines)


def show_pilot(c: dict[str, Any]) -> str:
    """`C 16A` (the pilot's state, and what its PWM offers), `B -` while the PWM is off."""
    limit = c.get("current_limit_a")
    return f"{c.get('cp', '?')} {f'{limit:g}A' if limit is not None else '-'}"


def show_fault(fault: dict[str, str]) -> str:
    known = next((f for f in CATALOGUE.values() if f.code == fault["code"]), None)
    until = f" (clears when {known.clears})" if known else ""
    return f"{fault['code']}: {fault['message']}{until}"


def show_meter(meter: dict[str, Any] | None) -> str:
    if meter is None:
        return "no valid reading yet"
    volts = " ".join(f"{v:g}" for v in meter["voltage_v"])
    amps = " ".join(f"{a:g}" for a in meter["current_a"])
    phases = f", {volts} V, {amps} A" if volts else ""
    return (
        f"{meter['energy_register_wh'] / 1000:.3f} kWh, {meter['power_w']:g} W{phases} "
        f"({meter['age_s']:g} s ago)"
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pilectl", description="Service the pile controller.")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--config", help="the daemon's config file (to find its control socket)")
    where.add_argument("--socket", help="the daemon's control socket")
    sub = p.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="state of every connector, the backend link, the outbox")
    status.add_argument("--json", action="store_true")
    sim = sub.add_parser("sim", help="drive the simulated hardware", description=SIM_USAGE)
    sim.add_argument("args", nargs="+", metavar="ARG", help=SIM_USAGE)
    fault = sub.add_parser("fault", help="a connector's latched fault")
    fault_sub = fault.add_subparsers(dest="fault_command", required=True)
    clear = fault_sub.add_parser(
        "clear", help="clear a welded contactor, a lock or pilot fault the hardware no longer shows"
    )
    clear.add_argument("connector", type=int)
    selftest = sub.add_parser(
        "selftest", help="every relay and lock against its feedback, pilots, meters, broker, ..."
    )
    selftest.add_argument("--json", action="store_true")
    relay_test = sub.add_parser(
        "relay-test", help="close and open a free connector's relay once, timing its feedback"
    )
    relay_test.add_argument("connector", type=int)
    update = sub.add_parser(
        "update", help="install a release archive (its signature in FILE.sig), as `update` does"
    )
    update.add_argument("file", help="the release's .tar.gz (scripts/release)")
    meter = sub.add_parser("meter", help="read a meter directly (no daemon needed)")
    meter_sub = meter.add_subparsers(dest="meter_command", required=True)
    read = meter_sub.add_parser("read", help="one reading from a Modbus meter")
    read.add_argument("--model", required=True, help=f"one of: {', '.join(sorted(known_models()))}")
    line = read.add_mutually_exclusive_group(required=True)
    line.add_argument("--tcp", metavar="HOST:PORT")
    line.add_argument("--rtu", metavar="DEVICE")
    read.add_argument("--baudrate", type=int, default=9600)
    read.add_argument("--parity", choices=["N", "E", "O"], default="N")
    read.add_argument("--unit", type=int, default=1)
    read.add_argument("--json", action="store_true")
    receipt = sub.add_parser("receipt", help="check a receipt (no daemon needed)")
    receipt_sub = receipt.add_subparsers(dest="receipt_command", required=True)
    verify = receipt_sub.add_parser(
        "verify", help="a receipt against the pile's public key: exit 0, or what does not match"
    )
    verify.add_argument(
        "file", metavar="FILE", help="the receipt or its transaction.stopped event, - for stdin"
    )
    key = verify.add_mutually_exclusive_group(required=True)
    key.add_argument("--public-key", metavar="BASE64", help="the pile's key, as in its birth")
    key.add_argument("--birth", metavar="FILE", help="the pile's birth message (P/ID/online)")
    return p


def verify_receipt(args: argparse.Namespace) -> str:
    from pile_controller.technician import receipts

    def text_of(name: str) -> str:
        if name == "-":
            return sys.stdin.read()
        try:
            return Path(name).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"{name}: {getattr(exc, 'strerror', None) or exc}") from None

    try:
        pile = None
        if args.birth:
            key, pile = receipts.key_of_birth(text_of(args.birth))
        else:
            key = receipts.public_key(args.public_key, "--public-key")
        return receipts.check(text_of(args.file), key, pile)
    except receipts.ReceiptError as exc:
        raise CliError(str(exc)) from None


def read_meter(args: argparse.Namespace) -> str:
    from hal.modbus import Endpoint, open_meter  # pymodbus: only this command needs it

    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not host or not port.isdigit():
            raise CliError(f"--tcp wants HOST:PORT, got {args.tcp!r}")
        endpoint = Endpoint("tcp", host=host, port=int(port))
    else:
        endpoint = Endpoint("rtu", device=args.rtu, baudrate=args.baudrate, parity=args.parity)
    try:
        reading = open_meter(args.model, endpoint, args.unit).read()
    except MeterError as exc:
        raise CliError(str(exc)) from None
    values = {
        "energy_register_wh": reading.energy_register_wh,
        "power_w": reading.power_w,
        "voltage_v": list(reading.voltage_v),
        "current_a": list(reading.current_a),
        "serial": reading.meter.serial if reading.meter else None,
    }
    if args.json:
        return json.dumps(values)
    wh = reading.energy_register_wh
    return "\n".join(
        [
            f"{args.model} unit {args.unit} on {endpoint}",
            f"import register  {wh} Wh ({wh / 1000:.3f} kWh)",
            f"power            {reading.power_w:g} W",
            f"voltage          {per_phase(reading.voltage_v, 'V')}",
            f"current          {per_phase(reading.current_a, 'A')}",
            f"serial number    {values['serial'] or '- (not reported)'}",
        ]
    )


def per_phase(values: tuple[float, ...], unit: str) -> str:
    return "  ".join(f"L{i} {v:g} {unit}" for i, v in enumerate(values, 1)) or "- (not measured)"


def show_check(check: dict[str, Any]) -> str:
    verdict = "ok" if check["ok"] else "FAILED"
    return f"{check['name']}: {verdict} ({check['detail']})"


def run(args: argparse.Namespace) -> tuple[str, int]:
    """What to print, and the exit status."""
    if args.command == "meter":
        return read_meter(args), 0
    if args.command == "receipt":
        return verify_receipt(args), 0
    path = socket_path(args)
    if args.command == "status":
        report = ask(path, {"cmd": "status"})
        return (json.dumps(report) if args.json else show_status(report)), 0
    if args.command == "fault":
        ask(path, {"cmd": "fault-clear", "connector": args.connector})
        return f"connector {args.connector}: fault cleared", 0
    if args.command == "selftest":
        checks = ask(path, {"cmd": "selftest"}, timeout_s=TEST_TIMEOUT_S)["checks"]
        ok = all(c["ok"] for c in checks)
        if args.json:
            shown = [{k: c[k] for k in ("name", "ok", "detail")} for c in checks]
            return json.dumps({"ok": ok, "checks": shown}), 0 if ok else 1
        return "\n".join(show_check(c) for c in checks), 0 if ok else 1
    if args.command == "relay-test":
        request = {"cmd": "relay-test", "connector": args.connector}
        check = ask(path, request, timeout_s=TEST_TIMEOUT_S)["check"]
        return show_check(check), 0 if check["ok"] else 1
    if args.command == "update":
        ask(path, {"cmd": "update", "file": str(hand_over(Path(args.file), path.resolve().parent))})
        return f"updating from {args.file}: the log and firmware.status events say how it goes", 0
    ask(path, {"cmd": "sim", "args": args.args})
    return "ok", 0


def hand_over(release: Path, folder: Path) -> Path:
    """A copy of the release and its .sig where the daemon can read them whatever its sandbox
    hides (/home, /tmp): beside its control socket, in its runtime folder (RAM on a pile)."""
    copy = folder / "update.tar.gz"
    try:
        shutil.copyfile(release, copy)
        signature = Path(f"{release}.sig")
        if signature.exists():
            shutil.copyfile(signature, f"{copy}.sig")
    except OSError as exc:
        raise CliError(f"update: cannot copy {exc.filename}: {exc.strerror}") from None
    return copy


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        text, status = run(args)
    except CliError as exc:
        print(f"pilectl: {exc}", file=sys.stderr)
        return 1
    print(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
