"""A pile's devices on a Raspberry Pi (CONTRACT 9.3): per connector a relay with its mirror
contact, a cable lock with its feedback, a stop button, a control pilot (kernel PWM out, an
MCP300x in) and a Modbus meter; the pile's e-stop loop and RCD fault input.

Inputs report through the sink on the GPIO library's thread (or the pilot sampler's); put
beneath the interlock, their openings act there. At `attach` every input is reported as it
stands first, so the core and the interlock start from the hardware's real positions.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hal import events as ev
from hal.interfaces import ConnectorHardware, Meter, Sink, Unavailable
from hal.pilot import CpState
from hal.rpi import EXTRAS, gpio
from hal.rpi.adc import PilotSampler, Scale, Spi
from hal.rpi.pins import PinFactory
from hal.rpi.proximity import ProximitySampler
from hal.rpi.pwm import PwmError, SysfsPwm
from hal.rpi.wiring import Board, ConnectorWiring

if TYPE_CHECKING:
    from hal.rpi.keypad import Keypad

T = TypeVar("T")
SAMPLE_PERIOD_S = 0.02  # each pilot is read 50 times a second: C -> B seen within 20 ms


class GpioRelay:
    def __init__(self, out: gpio.Output):
        self.out = out

    def close(self) -> None:
        self.out.set(True)

    def open(self) -> None:
        self.out.set(False)


class RpiPilot:
    """The pilot's PWM on a kernel channel; `offering` tells the sampler to check the diode."""

    def __init__(self, pwm: SysfsPwm):
        self.pwm = pwm
        self.offering = False

    def pwm_on(self, duty_percent: float) -> None:
        self.pwm.offer(duty_percent)
        self.offering = True

    def pwm_off(self) -> None:
        self.offering = False
        self.pwm.constant_high()

    def pwm_f(self) -> None:
        self.offering = False
        self.pwm.constant_low()


class RpiConnector:
    def __init__(
        self,
        c: ConnectorWiring,
        board: Board,
        factory: PinFactory,
        spi: Spi,
        meter: Meter,
        report: Callable[[ev.Report], None],
    ):
        key, cid = c.key, c.id
        self.cid = cid
        self.report = report
        pins, at = c.pins, f"{key}.pins"
        self.relay = GpioRelay(gpio.Output(factory, pins.relay, f"{at}.relay"))
        self.relay_feedback = gpio.Input(
            factory,
            pins.relay_feedback,
            lambda closed: report(ev.RelayFeedback(cid, closed)),
            f"{at}.relay_feedback",
        )
        self.lock_feedback = gpio.Input(
            factory,
            pins.lock_feedback,
            lambda locked: report(ev.LockFeedback(cid, locked)),
            f"{at}.lock_feedback",
        )
        unlock = gpio.Output(factory, pins.unlock, f"{at}.unlock") if pins.unlock else None
        self.lock = gpio.PulsedLock(
            gpio.Output(factory, pins.lock, f"{at}.lock"),
            unlock,
            board.lock_pulse_ms / 1000,
            self._lock_settled,
        )
        self.stop_button = (
            gpio.Input(factory, pins.stop_button, self._stop_button, f"{at}.stop_button")
            if pins.stop_button
            else None
        )
        self.pwm = SysfsPwm(board.pwm_root, c.pilot.pwm_chip, c.pilot.pwm_channel)
        try:
            self.pwm.open()
        except PwmError as exc:
            raise Unavailable(f"{key}.pilot.{exc.setting}: {exc}") from None
        self.pilot = RpiPilot(self.pwm)
        scale = Scale(c.pilot.volts_per_count, c.pilot.offset_v)
        self.sampler = PilotSampler(spi, c.pilot.adc_channel, scale)
        pp = c.pilot.pp_adc_channel
        self.proximity = (
            ProximitySampler(spi, pp, c.pilot.pp_pullup_ohm) if pp is not None else None
        )
        self.pp_a: int | None = None
        self.pp_reported = False  # the first reading is reported, whatever it is
        self.cp = CpState.A
        self.diode_ok = True
        self.keypad = open_keypad(f"{key}.keypad.device", c, report)
        self.hardware = ConnectorHardware(self.relay, self.lock, meter, self.pilot)

    def _lock_settled(self) -> None:
        self.report(ev.LockFeedback(self.cid, self.lock_feedback.active))

    def _stop_button(self, pressed: bool) -> None:
        if pressed:
            self.report(ev.StopButton(self.cid))

    def report_positions(self) -> None:
        self.report(ev.RelayFeedback(self.cid, self.relay_feedback.active))
        self.report(ev.LockFeedback(self.cid, self.lock_feedback.active))

    def sample(self) -> None:
        """One burst of the pilot: its state (and plug, unplug) and the diode, if they changed."""
        state, diode = self.sampler.classify(self.sampler.sample(), self.pilot.offering)
        if state != self.cp:
            was_plugged = self.cp in (CpState.B, CpState.C, CpState.D)
            self.cp = state
            self.report(ev.PilotState(self.cid, state))
            plugged = state in (CpState.B, CpState.C, CpState.D)
            if plugged and not was_plugged:
                self.report(ev.PlugIn(self.cid))
            elif state is CpState.A and was_plugged:
                self.report(ev.Unplug(self.cid))
        if diode != self.diode_ok:
            self.diode_ok = diode
            self.report(ev.DiodeCheck(self.cid, diode))
        if self.proximity is not None:
            amps = self.proximity.amps()
            if amps != self.pp_a or not self.pp_reported:
                self.pp_a, self.pp_reported = amps, True
                self.report(ev.CableAmpacity(self.cid, amps))

    def close(self) -> None:
        self.relay.open()
        self.pilot.pwm_off()
        if self.keypad is not None:
            self.keypad.close()


class RpiPile:
    """The Hardware of a Raspberry Pi pile; its pins come from `factory`, its SPI devices
    from `spi_open(bus, device)`, so that tests stand in for RPi.GPIO, spidev and the meters."""

    def __init__(
        self,
        board: Board,
        meters: dict[int, Meter],
        spi_open: Callable[[int, int], Spi],
        factory: PinFactory,
    ):
        """Claims every pin, PWM channel, SPI device and keypad; the first that cannot be had
        is `Unavailable`, one line naming its key."""
        self._sink: Sink | None = None
        self.estop = gpio.Input(
            factory, board.estop, lambda on: self._report(ev.EmergencyStop(on)), "hal.estop"
        )
        self.rcd = (
            gpio.Input(
                factory, board.rcd_fault, lambda on: self._report(ev.RcdTrip(on)), "hal.rcd_fault"
            )
            if board.rcd_fault
            else None
        )
        spis: dict[tuple[int, int], Spi] = {}
        self.rpi: dict[int, RpiConnector] = {}
        for c in board.connectors:
            where = (c.pilot.spi_bus, c.pilot.spi_device)
            if where not in spis:
                key = f"{c.key}.pilot.spi_device"
                spis[where] = opened(key, functools.partial(spi_open, *where))
            connector = RpiConnector(c, board, factory, spis[where], meters[c.id], self._report)
            self.rpi[c.id] = connector
        self.connectors = {cid: r.hardware for cid, r in self.rpi.items()}
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def attach(self, sink: Sink) -> None:
        self._sink = sink
        if self.estop.active:
            self._report(ev.EmergencyStop(True))
        if self.rcd is not None and self.rcd.active:
            self._report(ev.RcdTrip(True))
        for connector in self.rpi.values():
            connector.report_positions()
            connector.sample()
        self._sampler = threading.Thread(target=self._sample, name="pilot-sampler", daemon=True)
        self._sampler.start()
        for connector in self.rpi.values():
            if connector.keypad is not None:
                connector.keypad.start()

    def close(self) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(timeout=1)
        for connector in self.rpi.values():
            connector.close()
        self._sink = None

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_PERIOD_S):
            for connector in self.rpi.values():
                connector.sample()

    def _report(self, event: ev.Report) -> None:
        if self._sink is not None:
            self._sink(event)


def opened(key: str, open_device: Callable[[], T]) -> T:
    """A device file opened, or one line naming the key and what is wrong with the file."""
    try:
        return open_device()
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise Unavailable(f"{key}: {where}{exc.strerror or exc}") from None


def open_keypad(key: str, c: ConnectorWiring, report: Callable[[ev.Report], None]) -> Keypad | None:
    """The connector's keypad, if it has one: evdev is imported only then."""
    if c.keypad is None:
        return None
    try:
        from hal.rpi.keypad import Keypad
    except ImportError as exc:
        raise Unavailable(f"{key}: a keypad needs the evdev module: {EXTRAS} ({exc})") from None

    path = str(c.keypad)
    return opened(key, lambda: Keypad(path, c.id, report))


def open_spi(bus: int, device: int) -> Any:
    """The MCP300x's SPI device: mode 0, at most 1 MHz (CONTRACT 9.3)."""
    import spidev

    spi = spidev.SpiDev()
    try:
        spi.open(bus, device)
    except OSError as exc:  # spidev names no file: name it, and what usually is the cause
        exc.filename = f"/dev/spidev{bus}.{device}"
        if isinstance(exc, FileNotFoundError):
            exc.strerror = "no such SPI device (is dtparam=spi=on in config.txt?)"
        raise
    spi.mode = 0
    spi.max_speed_hz = 1_000_000
    return spi
