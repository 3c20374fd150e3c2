"""The OCPP-J session against a CSMS that accepts the WebSocket and then says nothing: the
pile's CALL is given up after a bounded time, the connection is dropped and opened again (a
real websockets server on loopback; the timeout shortened for the test)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets
from websockets.typing import Subprotocol

from pile_controller.backend.ocpp import rpc, session
from rig.broker import free_port


def test_a_silent_csms_times_out_and_is_reconnected(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(session, "CALL_TIMEOUT_S", 0.3)
    port = free_port()
    opened: list[str] = []

    async def silent(ws: Any) -> None:
        opened.append(ws.request.path)
        async for _ in ws:
            pass  # reads every frame, answers none

    async def main() -> int:
        server = await websockets.serve(
            silent, "127.0.0.1", port, subprotocols=[Subprotocol("ocpp1.6")]
        )
        s = session.Session(
            f"ws://127.0.0.1:{port}/ocpp/P1", "ocpp1.6", rpc.Schemas("v16"), None, None
        )
        s._backoff.base = 0.05
        lost: list[int] = []

        async def boot() -> None:
            await s.call("BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"})

        keeping = asyncio.create_task(s.keep_up(lambda call: {}, boot, lambda: lost.append(1)))
        while len(opened) < 2:
            await asyncio.sleep(0.05)
        s.close()
        keeping.cancel()
        server.close()
        return len(lost)

    assert asyncio.run(asyncio.wait_for(main(), 10)) >= 1
    assert opened == ["/ocpp/P1"] * len(opened)
    assert "lost: no answer to a CALL within 0.3 s; reconnecting" in caplog.text
