"""A test energy meter: pymodbus's own server speaking one profile's register map, over Modbus
TCP on a free port, or Modbus RTU on a pseudo-terminal pair (real RTU frames with CRC cross
pyserial on both sides). Faults are injected the way a bus shows them: an exception response, a
meter that stays silent (timeout), garbage bytes on the line, a register going backwards.
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
import time
import tty
from collections.abc import Callable
from typing import Any

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from hal.meters.profile import load
from rig.broker import free_port


class ServedMeter:
    def __init__(self, model: str, unit: int = 1):
        self.profile = load(model)
        self.unit = unit
        phases = len(self.profile.voltage_v)
        self.energy_wh = 1_000_000.0
        self.power_w = 0.0
        self.voltage_v = [230.0] * phases
        self.current_a = [0.0] * phases
        # What its serial-number register holds (where its profile has one); None: the
        # register answers "illegal data address", as a variant without it would.
        self.serial: str | None = "12345678" if self.profile.serial else None
        self.fault: str | None = None  # None, "exception", "silent", "garbage"
        self.requests = 0
        self.bytes_on_wire = 0
        self._loop = asyncio.new_event_loop()
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self._thread: threading.Thread | None = None
        self._relay: PtyPair | None = None

    # --- serving -------------------------------------------------------------------------------

    def serve_tcp(self, port: int | None = None) -> int:
        port = port or free_port()
        self._start(
            lambda: ModbusTcpServer(
                self._device(), address=("127.0.0.1", port), trace_packet=self._trace
            )
        )
        return port

    def serve_rtu(self, baudrate: int = 9600, wire_speed: bool = False) -> str:
        """Serves on one end of a pty pair; returns the device the client opens. With
        `wire_speed`, bytes cross at the baud rate's pace, as on a real RS485 line."""
        self._relay = PtyPair(baudrate if wire_speed else None)
        server_end = self._relay.server_end
        self._start(
            lambda: ModbusSerialServer(
                self._device(),
                framer=FramerType.RTU,
                port=server_end,
                baudrate=baudrate,
                bytesize=8,
                parity="N",
                stopbits=1,
                trace_packet=self._trace,
            )
        )
        return self._relay.client_end

    def stop(self) -> None:
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5)
            self._server = None
        if self._thread is not None:
            # Handlers of connections still open (the daemon's) would be left pending on a
            # stopped loop, and Python complains about each at exit.
            asyncio.run_coroutine_threadsafe(cancel_the_rest(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._thread = None
        if self._relay is not None:
            self._relay.close()

    def _start(self, make: Callable[[], ModbusTcpServer | ModbusSerialServer]) -> None:
        """Builds and starts the server on its own loop thread (pymodbus wants a running loop)."""

        async def start() -> None:
            self._server = make()
            await self._server.serve_forever(background=True)

        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(start(), self._loop).result(5)

    def _device(self) -> SimDevice:
        spans = [*self.profile.plan()]
        if self.profile.serial is not None:
            spans.append(self.profile.serial.block)
        tables: dict[int, list[SimData]] = {3: [], 4: []}
        for b in spans:
            tables[b.function].append(
                SimData(b.address, count=b.count, values=0, datatype=DataType.REGISTERS)
            )
        # The server wants all four tables; the ones the profile does not use get a placeholder.
        unused = [SimData(0xFFF0, values=0, datatype=DataType.REGISTERS)]
        bits = [SimData(0, values=False, datatype=DataType.BITS)]
        blocks = (bits, bits, tables[3] or unused, tables[4] or unused)
        return SimDevice(id=self.unit, simdata=blocks, action=self._action)

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: Any,
    ) -> ExcCodes | None:
        self.requests += 1
        if self.fault == "exception":
            return ExcCodes.DEVICE_FAILURE
        if self.fault == "silent":
            await asyncio.sleep(3)  # longer than any client waits
        image = self.profile.encode(self.energy_wh, self.power_w, self.voltage_v, self.current_a)
        serial = self.profile.serial
        if serial is not None and start_address == serial.address:
            if self.serial is None:
                return ExcCodes.ILLEGAL_ADDRESS
            image = dict(enumerate(serial.encode(self.serial), start=serial.address))
        for i in range(len(current_registers)):
            current_registers[i] = image.get(start_address + i, 0)
        return None

    def _trace(self, sending: bool, data: bytes) -> bytes:
        self.bytes_on_wire += len(data)
        if sending and self.fault == "garbage":
            return bytes(b ^ 0x5A for b in data)  # CRC and framing both broken
        return data


class PtyPair:
    """Two pseudo-terminals joined back to back, like a null-modem cable: what is written to one
    end's device is read from the other's. Optionally paced at a baud rate (10 bits a byte)."""

    def __init__(self, baudrate: int | None):
        self.masters: list[int] = []
        self.ends: list[str] = []
        for _ in range(2):
            master, slave = os.openpty()
            tty.setraw(master)
            # Non-blocking: a master whose end is closed reads as ready (EIO), and if that end
            # opens between select() and read(), a blocking read would wait for it to write.
            # The server end never writes unasked, so the relay hung for good (a test flake).
            os.set_blocking(master, False)
            self.masters.append(master)
            self.ends.append(os.ttyname(slave))
            os.close(slave)  # reopened by name by pyserial
        self.server_end, self.client_end = self.ends
        self.byte_time = 10 / baudrate if baudrate else 0.0
        self._running = True
        self._thread = threading.Thread(target=self._shuttle, daemon=True)
        self._thread.start()

    def _shuttle(self) -> None:
        a, b = self.masters
        while self._running:
            ready, _, _ = select.select([a, b], [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except BlockingIOError:  # that end opened since select(): nothing to read yet
                    continue
                except OSError:  # that end's device is not open (yet, or any more)
                    time.sleep(0.01)
                    continue
                if self.byte_time:
                    time.sleep(len(data) * self.byte_time)
                write_all(b if fd == a else a, data)

    def close(self) -> None:
        self._running = False
        self._thread.join(2)
        for fd in self.masters:
            os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            data = data[os.write(fd, data) :]
        except BlockingIOError:  # the far end's buffer is full: wait for it to drain
            select.select([], [fd], [], 0.05)
        except OSError:  # the far end is not open: the bytes fall off the cable
            return


async def cancel_the_rest() -> None:
    """Cancels every other task on the running loop and waits for them to finish."""
    rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)
