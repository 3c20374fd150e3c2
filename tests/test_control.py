"""The control socket answers every line with one line, whatever it was sent, and a request
that fails never takes the daemon with it."""

import asyncio
import json
import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from pile_controller.technician.control import MAX_LINE, RequestError, answer, serve
from tests.in_process import in_process_daemon


def handler(request: dict[str, Any]) -> dict[str, Any]:
    match request.get("cmd"):
        case "status":
            return {"fine": True}
        case "refuse":
            raise RequestError("not now")
        case "bug":
            raise KeyError("a bug")
    raise RequestError(f"unknown request {request.get('cmd')!r}")


def exchange(tmp_path: Path, *lines: bytes) -> list[Any]:
    """Sends each line on one connection; the answers, each parsed."""

    async def talk() -> list[Any]:
        path = tmp_path / "control.sock"
        server = await serve(path, handler)
        reader, writer = await asyncio.open_unix_connection(str(path), limit=4 * MAX_LINE)
        answers = []
        for line in lines:
            writer.write(line + b"\n")
            await writer.drain()
            answer = await reader.readline()
            answers.append(json.loads(answer) if answer else None)
        writer.close()
        server.close()
        await server.wait_closed()
        return answers

    return asyncio.run(talk())


def test_each_request_gets_its_answer(tmp_path: Path) -> None:
    assert exchange(tmp_path, b'{"cmd": "status"}', b'{"cmd": "refuse"}') == [
        {"ok": True, "fine": True},
        {"ok": False, "error": "not now"},
    ]


def test_bad_lines_get_one_error_line_each_and_the_next_request_is_served(
    tmp_path: Path,
) -> None:
    answers = exchange(
        tmp_path, b"not json", b"[1, 2]", b'{"cmd": "nope"}', b'{"cmd": "bug"}', b'{"cmd":"status"}'
    )
    assert answers == [
        {"ok": False, "error": "request is not JSON"},
        {"ok": False, "error": "request must be a JSON object"},
        {"ok": False, "error": "unknown request 'nope'"},
        {"ok": False, "error": "internal error (see the daemon's log)"},
        {"ok": True, "fine": True},
    ]


def test_a_line_over_64_kib_gets_one_error_line_and_ends_that_connection_only(
    tmp_path: Path,
) -> None:
    assert exchange(tmp_path, b"x" * (MAX_LINE + 10)) == [
        {"ok": False, "error": "request line over 64 KiB"}
    ]
    assert exchange(tmp_path, b'{"cmd": "status"}') == [{"ok": True, "fine": True}]


def test_a_socket_left_by_a_daemon_that_died_is_replaced(tmp_path: Path) -> None:
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(tmp_path / "control.sock"))
    stale.close()
    assert exchange(tmp_path, b'{"cmd": "status"}') == [{"ok": True, "fine": True}]


def test_hostile_requests_to_the_daemon_get_one_error_line_each_and_change_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What a new user typed at the socket once broke the daemon: a clock jump past what a
    datetime holds failed every later status, args that are not a list and NaN logged
    tracebacks, and JSON nested a few thousand deep dropped the connection."""

    async def scenario() -> list[dict[str, Any]]:
        daemon, sim = in_process_daemon(tmp_path)
        lines = [
            b'{"cmd":"sim","args":["clock","+99999999999999999"]}',
            b'{"cmd":"sim","args":5}',
            b'{"cmd":"sim","args":["plug",1]}',
            b'{"cmd":"status","x":NaN}',
            b"[" * 5000 + b"]" * 5000,
        ]
        technician = daemon._technician()
        answers = [await answer(line, technician.request) for line in lines]
        assert sim.skipped == 0 and not sim.vehicles[1].plugged
        status = await answer(b'{"cmd":"status"}', technician.request)
        daemon.store.close()
        return [*answers, status]

    with caplog.at_level(logging.WARNING):
        *refused, status = asyncio.run(scenario())
    assert [a["error"] for a in refused] == [
        "the clock may jump ahead at most 3162240000 s in all (0 s so far), not 1e+17 s more",
        "sim: args must be a list of strings",
        "sim: args must be a list of strings",
        "request is not JSON",
        "request nests too deep",
    ]
    assert status["ok"] and status["connectors"][0]["state"] == "idle"
    assert not caplog.records  # nothing for the log: the caller was told
