"""systemd's watchdog is pinged only while the loop runs and the meter polling goes round: a
read that hangs (not one that fails: that is a MeterFailure) stops the pings, and systemd
restarts the daemon."""

import asyncio
import threading
from pathlib import Path

from pile_controller.service import policy
from rig import virtual_time
from tests.in_process import in_process_daemon


def test_a_hung_meter_round_stops_the_watchdogs_pings(tmp_path: Path) -> None:
    daemon, sim = in_process_daemon(tmp_path)
    gate = threading.Event()
    meter = sim.connectors[1].meter
    read = meter.read

    async def scenario() -> None:
        running = asyncio.create_task(daemon.run())
        loop = asyncio.get_running_loop()
        started = loop.time()
        while daemon.meters.polled_at <= started:  # a round ends while every meter answers
            await asyncio.sleep(0.05)
        assert daemon.meters.healthy(loop.time())
        meter.read = lambda: (gate.wait(), read())[1]  # type: ignore[method-assign]
        await asyncio.sleep(policy.METER_POLL_S * 2.5)
        hung = daemon.meters.polled_at
        assert loop.time() - hung > policy.METER_POLL_S * 1.5, "no round ended meanwhile"
        assert daemon.meters.healthy(hung + policy.METER_ROUND_HUNG_S - 1)
        assert not daemon.meters.healthy(hung + policy.METER_ROUND_HUNG_S)
        gate.set()
        daemon._stopping.set()
        await asyncio.wait_for(running, 10)

    virtual_time.run(scenario())  # the polls' and the ticks' sleeps pass at once
