"""Reading the meters: every connector's, one round each `policy.METER_POLL_S`, each read in a
worker thread (a Modbus read blocks for up to its timeout), what it gave fed to the core. A
meter that fails is logged once and then once a minute, not once a poll; a round that does not
end is a hang, which systemd's watchdog hears of (`healthy`)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import datetime

from hal.interfaces import Hardware, MeterError
from pile_controller.core import events as ev
from pile_controller.retry import Throttle
from pile_controller.service import policy

log = logging.getLogger("pile_controller")


class MeterPolling:
    def __init__(
        self, hardware: Hardware, feed: Callable[[ev.Event], None], now: Callable[[], datetime]
    ):
        self.hardware, self.feed, self.now = hardware, feed, now
        self.polled_at = time.monotonic()  # the loop's clock: when the last round ended
        self._failures = Throttle(every=60)  # polls a second: once a minute

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            for cid in self.hardware.connectors:
                await self.read(cid)
            self.polled_at = loop.time()
            await asyncio.sleep(policy.METER_POLL_S)

    def healthy(self, loop_time: float) -> bool:
        """Whether the polling has gone round lately. A meter that does not answer is a
        MeterFailure, not a hang: its read times out and the round goes on."""
        return loop_time - self.polled_at < policy.METER_ROUND_HUNG_S

    async def read(self, cid: int) -> None:
        meter = self.hardware.connectors[cid].meter
        try:
            reading = await asyncio.get_running_loop().run_in_executor(None, meter.read)
        except MeterError as exc:
            self.feed(ev.MeterUnreadable(cid, str(exc)))
            if self._failures.seen(cid):
                log.warning("connector %d: meter: %s", cid, exc, extra={"connector": cid})
            return
        if self._failures.clear(cid):
            log.info("connector %d: meter answers again", cid, extra={"connector": cid})
        self.feed(ev.MeterReading(cid, dataclasses.replace(reading, at=self.now())))
