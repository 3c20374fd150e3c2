"""The local control socket that `pilectl` talks to: one JSON object per line each way.

Requests: `{"cmd": "status"}`, `{"cmd": "sim", "args": ["plug", "1"]}`. Answers are
`{"ok": true, ...}` or `{"ok": false, "error": "one line"}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], dict[str, Any]]
MAX_LINE = 64 * 1024


async def serve(path: Path, handle: Handler) -> asyncio.Server:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_socket():
        path.unlink()  # left by a daemon that did not stop cleanly

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(json.dumps(answer(line, handle)).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_unix_server(client, path=str(path), limit=MAX_LINE)
    os.chmod(path, 0o660)
    return server


def answer(line: bytes, handle: Handler) -> dict[str, Any]:
    try:
        request = json.loads(line)
    except ValueError:
        return {"ok": False, "error": "request is not JSON"}
    if not isinstance(request, dict):
        return {"ok": False, "error": "request must be a JSON object"}
    try:
        return {"ok": True, **handle(request)}
    except RequestError as exc:
        return {"ok": False, "error": str(exc)}
    except Exception:  # a bug must not take the daemon down with it
        log.exception("control request %r failed", request)
        return {"ok": False, "error": "internal error (see the daemon's log)"}


class RequestError(Exception):
    """A control request that cannot be done; the message is shown to the technician."""
