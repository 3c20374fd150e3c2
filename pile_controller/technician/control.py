"""The local control socket that `pilectl` talks to: one JSON object per line each way.

Requests: `{"cmd": "status"}`, `{"cmd": "sim", "args": ["plug", "1"]}`. Answers are
`{"ok": true, ...}` or `{"ok": false, "error": "one line"}`. The status report (CONTRACT §8) is
built here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pile_controller import __version__
from pile_controller.backend.link import Link
from pile_controller.backend.wire import status_message
from pile_controller.core.events import Reading
from pile_controller.core.pile import Pile
from pile_controller.technician import peers

log = logging.getLogger(__name__)
# A request's answer, or (for one that takes a while: `relay-test`, `selftest`) a coroutine
# giving it; the loop goes on meanwhile.
Handler = Callable[[dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]
MAX_LINE = 64 * 1024


async def serve(path: Path, handle: Handler) -> asyncio.Server:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_socket():
        path.unlink()  # left by a daemon that did not stop cleanly

    refused_uids: set[int] = set()

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None and (why := peers.refusal(sock)) is not None:
            uid = peers.peer(sock)[1]
            if uid not in refused_uids:  # once per user, not once per attempt
                refused_uids.add(uid)
                log.warning("control socket: %s", why)
            await refuse(writer, why)
            writer.close()
            return
        try:
            while line := await reader.readline():
                writer.write(json.dumps(await answer(line, handle)).encode() + b"\n")
                await writer.drain()
        except (asyncio.LimitOverrunError, ValueError):  # a line longer than MAX_LINE
            await refuse(writer, f"request line over {MAX_LINE // 1024} KiB")
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_unix_server(client, path=str(path), limit=MAX_LINE)
    os.chmod(path, 0o660)
    return server


async def refuse(writer: asyncio.StreamWriter, error: str) -> None:
    """One error line to a client the connection then ends for (it may be gone already)."""
    with contextlib.suppress(ConnectionError):
        writer.write(json.dumps({"ok": False, "error": error}).encode() + b"\n")
        await writer.drain()


async def answer(line: bytes, handle: Handler) -> dict[str, Any]:
    try:
        request = json.loads(line, parse_constant=not_json)
    except ValueError:
        return {"ok": False, "error": "request is not JSON"}
    except RecursionError:  # the parser's stack, not ours: nothing was read
        return {"ok": False, "error": "request nests too deep"}
    if not isinstance(request, dict):
        return {"ok": False, "error": "request must be a JSON object"}
    try:
        result = handle(request)
        if inspect.isawaitable(result):
            result = await result
        return {"ok": True, **result}
    except RequestError as exc:
        return {"ok": False, "error": str(exc)}
    except Exception:  # a bug must not take the daemon down with it
        log.exception("control request %r failed", request)
        return {"ok": False, "error": "internal error (see the daemon's log)"}


def not_json(constant: str) -> Any:
    """NaN and Infinity, which Python's parser takes and JSON does not have."""
    raise ValueError(f"{constant} is not JSON")


class RequestError(Exception):
    """A control request that cannot be done; the message is shown to the technician."""


def status_report(
    pile: Pile, pile_id: str, link: Link, outbox: int, now: datetime
) -> dict[str, Any]:
    """`pilectl status --json`: every connector, the backend link and the outbox depth."""
    connectors = []
    ocpp = link.protocol.startswith("ocpp")
    for c in pile.connectors.values():
        s = status_message(c, now)
        ocpp_id = {"ocpp_transaction_id": link.csms_transaction(s["transaction_id"])}
        connectors.append(
            {
                "id": c.id,
                "state": s["state"],
                "status": s["status"],
                "reservation_id": s["reservation_id"],
                "transaction_id": s["transaction_id"],
                "energy_wh": s["energy_wh"],
                "power_w": s["power_w"],
                "cost": s["cost"],
                "relay_closed": c.relay_feedback,
                "cable_locked": c.lock_feedback,
                "fault": s["fault"],
                "cp": s["cp"],
                "current_limit_a": s["current_limit_a"],
                "pp_a": s["pp_a"],
                "meter": meter_report(c.reading, now),
                **(ocpp_id if ocpp else {}),
            }
        )
    return {
        "pile_id": pile_id,
        "firmware": __version__,  # the release that runs (CONTRACT 12's updates)
        "backend": {
            "protocol": link.protocol,
            "peer": link.peer,
            "connected": link.connected,
            "outbox": outbox,
        },
        "connectors": connectors,
    }


def meter_report(reading: Reading | None, now: datetime) -> dict[str, Any] | None:
    """The last valid reading with its age: a technician sees at once whether it is live."""
    if reading is None or reading.at is None:
        return None
    return {
        "energy_register_wh": reading.energy_register_wh,
        "power_w": reading.power_w,
        "voltage_v": list(reading.voltage_v),
        "current_a": list(reading.current_a),
        "age_s": round((now - reading.at).total_seconds(), 1),
    }
