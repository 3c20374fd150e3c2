"""Energy meters over Modbus (pymodbus): RTU on RS485 through pyserial, and TCP.

One connection per serial port or TCP endpoint, shared by every meter on it: a lock serialises
the requests and a gap separates them (RS485 transceivers and slow meters need the line quiet
between frames). Serial settings are always explicit (9600 8N1 unit 1 unless configured):
pymodbus's own defaults differ between versions and between its clients.

A reading is only what passes every check: every quantity present, no NaN or documented "not
available" value, voltage and current in range. Whether the import register went backwards is
the core's to decide (it keeps every connector's last reading, whatever the meter).
Anything else is a MeterError naming the cause in one line; the core turns a meter that gives
no reading for `metering.stale_after_s` into the fault MeterFailure.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusException

from hal.backoff import Backoff
from hal.events import MeterId, Reading
from hal.interfaces import MeterError
from hal.meters.profile import Block, Profile, ProfileError, load

# pymodbus logs every failed request itself: a flood while a meter is absent. Each failure here
# becomes one MeterError instead, and the daemon names a problem once, then rate-limits it.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

TIMEOUT_S = 1.0  # one request; a dead meter costs this much per poll, then backs off
GAP_S = 0.02  # quiet line between two requests on one bus
VOLTAGE_RANGE = (0.0, 500.0)  # phase-to-neutral; outside it the meter or its wiring is wrong
CURRENT_RANGE = (0.0, 1000.0)
EXCEPTIONS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    6: "device busy",
    11: "gateway target did not respond",
}


@dataclass(frozen=True)
class Endpoint:
    """Where a meter is: `tcp` host:port, or `rtu` device with its serial settings."""

    transport: str
    host: str = ""
    port: int = 502
    device: str = ""
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1

    def __str__(self) -> str:
        if self.transport == "tcp":
            return f"{self.host}:{self.port}"
        return f"{self.device} ({self.baudrate} 8{self.parity}{self.stopbits})"


class Bus:
    """One connection, shared by the meters on it."""

    def __init__(self, endpoint: Endpoint, gap_s: float = GAP_S):
        self.endpoint = endpoint
        self.gap_s = gap_s
        self.lock = threading.Lock()
        self._quiet_from = 0.0
        if endpoint.transport == "tcp":
            self.client: ModbusTcpClient | ModbusSerialClient = ModbusTcpClient(
                endpoint.host, port=endpoint.port, timeout=TIMEOUT_S, retries=0
            )
        else:
            self.client = ModbusSerialClient(
                endpoint.device,
                framer=FramerType.RTU,
                baudrate=endpoint.baudrate,
                bytesize=8,
                parity=endpoint.parity,
                stopbits=endpoint.stopbits,
                timeout=TIMEOUT_S,
                retries=0,
            )

    def read(self, block: Block, unit: int) -> list[int]:
        with self.lock:
            pause = self._quiet_from - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            try:
                return self._read(block, unit)
            finally:
                self._quiet_from = time.monotonic() + self.gap_s

    def _read(self, block: Block, unit: int) -> list[int]:
        what = (
            f"{'input' if block.function == 4 else 'holding'} registers "
            f"0x{block.address:04X}+{block.count} from unit {unit} on {self.endpoint}"
        )
        if not self.client.connected:
            if not self.client.connect():
                raise MeterError(f"cannot connect to {self.endpoint}")
            if isinstance(self.client, ModbusSerialClient) and self.client.socket is not None:
                self.client.socket.reset_input_buffer()  # what a broken exchange left is noise
        read = (
            self.client.read_input_registers
            if block.function == 4
            else self.client.read_holding_registers
        )
        try:
            response = read(block.address, count=block.count, device_id=unit)
        except ModbusException as exc:
            self.client.close()  # a half-read frame must not poison the next request
            raise MeterError(f"no valid answer reading {what}: {_short(exc)}") from None
        if response.isError():
            code = getattr(response, "exception_code", 0)
            raise MeterError(f"exception {code} ({EXCEPTIONS.get(code, 'unknown')}) reading {what}")
        if len(response.registers) != block.count:
            raise MeterError(f"short answer ({len(response.registers)} registers) reading {what}")
        return list(response.registers)

    def close(self) -> None:
        self.client.close()


class ModbusMeter:
    """A meter of one profile at one unit address on a bus."""

    def __init__(self, profile: Profile, bus: Bus, unit: int):
        self.profile, self.bus, self.unit = profile, bus, unit
        self.plan = profile.plan()
        self.answered = False  # once it has, a failure is not a wiring problem
        # Asked again after every failure: a meter that was away may have been replaced.
        self.identity: MeterId | None = None
        self._backoff = Backoff(base=0.5, cap=10.0, jitter=False)
        self._retry_at = 0.0
        self._problem = ""

    def read(self) -> Reading:
        now = time.monotonic()
        if now < self._retry_at:
            failures = self._backoff.attempt
            raise MeterError(f"{self._problem} (retrying after {failures} failures)")
        try:
            reading = self._read()
        except MeterError as exc:
            self._problem = str(exc)
            self._retry_at = now + self._backoff.next()
            self.identity = None
            raise
        self._backoff.reset()
        if self.identity is None:
            self.identity = MeterId(self.profile.model, self.profile.vendor, self._serial())
        return replace(reading, meter=self.identity)

    def _serial(self) -> str | None:
        """The meter's serial number, if its map has one and it answers; its readings count
        either way (a variant without the register still meters)."""
        where = self.profile.serial
        if where is None:
            return None
        try:
            return where.decode(self.bus.read(where.block, self.unit))
        except MeterError:
            return None

    def _read(self) -> Reading:
        image: dict[int, int] = {}
        for block in self.plan:
            words = self.bus.read(block, self.unit)
            image.update(zip(range(block.address, block.address + block.count), words, strict=True))
        values = self.profile.decode(image)
        try:
            reading = self._check(values)
        except MeterError as exc:
            hint = self.profile.connect_hint
            if not self.answered and hint:
                raise MeterError(f"{exc} ({hint})") from None
            raise
        self.answered = True
        return reading

    def _check(self, values: dict[str, float | None | list[float | None]]) -> Reading:
        model = self.profile.model
        energy, power = values["energy_import_wh"], values["power_w"]
        if not isinstance(energy, float) or energy < 0:
            raise MeterError(f"{model}: import register has no valid value ({energy})")
        if not isinstance(power, float):
            raise MeterError(f"{model}: power has no valid value")
        phases = {"voltage_v": VOLTAGE_RANGE, "current_a": CURRENT_RANGE}
        checked: dict[str, tuple[float, ...]] = {}
        for name, (low, high) in phases.items():
            per_phase = values[name]
            assert isinstance(per_phase, list)
            for i, v in enumerate(per_phase, start=1):
                if v is None or not low <= v <= high:
                    raise MeterError(f"{model}: {name} L{i} = {v} is out of range")
            checked[name] = tuple(round(float(v), 3) for v in per_phase if v is not None)
        return Reading(int(energy), round(power, 1), checked["voltage_v"], checked["current_a"])

    def close(self) -> None:
        self.bus.close()


_buses: dict[Endpoint, Bus] = {}
_buses_lock = threading.Lock()


def open_meter(model: str, endpoint: Endpoint, unit: int) -> ModbusMeter:
    """A meter of `model` at `unit` on `endpoint`, sharing the bus with other meters on it."""
    try:
        profile = load(model)
    except ProfileError as exc:
        raise MeterError(str(exc)) from None
    with _buses_lock:
        bus = _buses.get(endpoint)
        if bus is None:
            bus = _buses[endpoint] = Bus(endpoint)
    return ModbusMeter(profile, bus, unit)


def _short(exc: Exception) -> str:
    text = str(exc).replace("Modbus Error: ", "").strip("[] ")
    return text.splitlines()[0] if text else type(exc).__name__
