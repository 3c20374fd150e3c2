"""The rig's null-modem cable between two pseudo-terminals, which every RTU test runs over."""

import os
import select
import time
from typing import Any

import pytest

from rig.meter import PtyPair


def test_the_relay_carries_bytes_though_an_end_opens_between_its_select_and_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A master whose end is closed reads as ready (EIO). The server opens its end at start; if
    # it does so just after the relay's select(), a blocking read waited for the server to
    # write, which it never does unasked: the meter saw no request for the whole test.
    server_end: list[str] = []  # the name, once the pair exists
    opened: list[int] = []
    real_select = select.select

    def racing_select(r: Any, w: Any, x: Any, timeout: float) -> Any:
        ready = real_select(r, w, x, timeout)
        if server_end and not opened and len(r) == 2 and r[0] in ready[0]:
            opened.append(os.open(server_end[0], os.O_RDWR | os.O_NOCTTY))
        return ready

    monkeypatch.setattr(select, "select", racing_select)
    pair = PtyPair(None)
    server_end.append(pair.server_end)
    client = os.open(pair.client_end, os.O_RDWR | os.O_NOCTTY)
    try:
        deadline = time.monotonic() + 2
        while not opened:
            assert time.monotonic() < deadline, "the race was never staged"
            time.sleep(0.01)
        os.write(client, b"request")
        ready, _, _ = real_select([opened[0]], [], [], 2)
        assert ready, "the relay never carried the request"
        assert os.read(opened[0], 100) == b"request"
    finally:
        pair.close()
        for fd in (client, *opened):
            os.close(fd)
