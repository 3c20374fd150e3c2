"""Meters over Modbus against pymodbus's own server: TCP on a free port, RTU across a pair of
pseudo-terminals (real RTU frames with CRC through pyserial), and the faults a bus shows."""

from collections.abc import Iterator

import pytest

from hal.interfaces import MeterError
from hal.modbus import Endpoint, ModbusMeter, open_meter
from pile_controller.core.events import MeterId
from rig.meter import ServedMeter

Pair = tuple[ServedMeter, ModbusMeter]


@pytest.fixture
def tcp_meter() -> Iterator[Pair]:
    served = ServedMeter("sdm630")
    port = served.serve_tcp()
    meter = open_meter("sdm630", Endpoint("tcp", host="127.0.0.1", port=port), 1)
    yield served, meter
    meter.close()
    served.stop()


@pytest.fixture
def rtu_meter() -> Iterator[Pair]:
    served = ServedMeter("dtsu666")
    device = served.serve_rtu()
    meter = open_meter("dtsu666", Endpoint("rtu", device=device), 1)
    yield served, meter
    meter.close()  # its port, before the relay behind it goes
    served.stop()


def retry_now(meter: ModbusMeter) -> None:
    meter._retry_at = 0.0  # the backoff is tested on its own below


def test_reads_every_quantity_over_tcp_in_one_request(tcp_meter: Pair) -> None:
    served, meter = tcp_meter
    served.energy_wh, served.power_w = 4_321_000.0, 7012.5
    served.current_a = [10.2, 9.8, 10.0]
    reading = meter.read()
    assert reading.energy_register_wh == 4_321_000 and reading.power_w == 7012.5
    assert reading.voltage_v == (230.0, 230.0, 230.0)
    assert reading.current_a == pytest.approx((10.2, 9.8, 10.0))
    assert reading.meter == MeterId("sdm630", "Eastron", "12345678")
    assert served.requests == 2  # the quantities, then the serial number, once
    meter.read()
    assert served.requests == 3  # every quantity in one request


def test_reads_over_rtu_with_crc_through_a_serial_line(rtu_meter: Pair) -> None:
    served, meter = rtu_meter
    served.energy_wh, served.power_w = 2_000_500.0, 3680.0
    reading = meter.read()
    assert (reading.energy_register_wh, reading.power_w) == (2_000_500, 3680.0)
    assert served.requests == 2  # the DTSU666's two register areas


def test_an_exception_response_is_named_and_is_no_reading(tcp_meter: Pair) -> None:
    served, meter = tcp_meter
    served.fault = "exception"
    with pytest.raises(
        MeterError,
        match=r"exception 4 \(device failure\) reading input "
        r"registers 0x0000\+74 from unit 1",
    ):
        meter.read()


def test_a_silent_meter_times_out(tcp_meter: Pair) -> None:
    served, meter = tcp_meter
    served.fault = "silent"
    with pytest.raises(MeterError, match="no valid answer"):
        meter.read()


def test_garbage_on_the_line_is_no_reading(rtu_meter: Pair) -> None:
    served, meter = rtu_meter
    served.fault = "garbage"
    with pytest.raises(MeterError, match="no valid answer"):
        meter.read()
    served.fault = None
    retry_now(meter)
    assert meter.read().energy_register_wh == 1_000_000  # the bus recovers


def test_a_meter_that_will_not_give_its_serial_still_meters(tcp_meter: Pair) -> None:
    served, meter = tcp_meter
    served.serial = None  # "illegal data address", as a variant without the register
    reading = meter.read()
    assert reading.energy_register_wh == 1_000_000
    assert reading.meter == MeterId("sdm630", "Eastron", None)


def test_a_meter_replaced_while_it_was_away_is_named_anew(tcp_meter: Pair) -> None:
    served, meter = tcp_meter
    assert meter.read().meter == MeterId("sdm630", "Eastron", "12345678")
    served.fault = "exception"
    with pytest.raises(MeterError):
        meter.read()
    served.fault, served.serial = None, "87654321"  # the technician fitted another
    retry_now(meter)
    assert meter.read().meter == MeterId("sdm630", "Eastron", "87654321")


def test_a_dropped_tcp_connection_reconnects(tcp_meter: Pair) -> None:
    served, meter = tcp_meter
    meter.read()
    meter.bus.client.close()  # as when a gateway drops the connection
    assert meter.read().energy_register_wh == 1_000_000


def test_a_gateway_that_goes_away_and_comes_back_is_read_again(tcp_meter: Pair) -> None:
    served, meter = tcp_meter
    port = meter.bus.endpoint.port
    meter.read()
    served.stop()  # the gateway drops the connection and stops answering
    with pytest.raises(MeterError, match=f"127.0.0.1:{port}"):
        meter.read()
    back = ServedMeter("sdm630")
    back.energy_wh = 1_000_500.0
    back.serve_tcp(port)
    try:
        retry_now(meter)
        assert meter.read().energy_register_wh == 1_000_500
    finally:
        back.stop()


def test_an_unreachable_port_is_one_clear_line() -> None:
    from rig.broker import free_port

    port = free_port()
    meter = open_meter("sdm630", Endpoint("tcp", host="127.0.0.1", port=port), 1)
    with pytest.raises(MeterError, match=f"cannot connect to 127.0.0.1:{port}"):
        meter.read()


def test_a_wrong_unit_id_gets_no_answer(tcp_meter: Pair) -> None:
    _, meter = tcp_meter
    with pytest.raises(MeterError, match="unit 7"):
        open_meter("sdm630", meter.bus.endpoint, 7).read()


def test_a_lower_register_is_read_as_the_meter_gives_it(tcp_meter: Pair) -> None:
    # Whether it went backwards is the core's to decide, once for every kind of meter
    # (tests/test_core_faults.py); the Modbus meter only checks what one poll can show.
    served, meter = tcp_meter
    meter.read()
    served.energy_wh -= 1000
    assert meter.read().energy_register_wh == 999000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"energy_wh": float("nan")}, "import register has no valid value"),
        ({"power_w": float("inf")}, "power has no valid value"),
        ({"voltage_v": [230.0, 612.0, 230.0]}, "voltage_v L2 = 612.0 is out of range"),
    ],
)
def test_implausible_values_are_no_reading(
    tcp_meter: Pair, change: dict[str, object], message: str
) -> None:
    served, meter = tcp_meter
    for name, value in change.items():
        setattr(served, name, value)
    with pytest.raises(MeterError, match=message):
        meter.read()


def test_a_failing_meter_backs_off_instead_of_hammering_the_bus(tcp_meter: Pair) -> None:
    served, meter = tcp_meter
    served.fault = "exception"
    with pytest.raises(MeterError):
        meter.read()
    with pytest.raises(MeterError, match=r"device failure.*\(retrying after 1 failures\)"):
        meter.read()
    assert served.requests == 1


def test_meters_on_one_serial_line_share_one_connection() -> None:
    first, second = ServedMeter("sdm630", unit=1), ServedMeter("sdm630", unit=2)
    device = first.serve_rtu()
    try:
        a = open_meter("sdm630", Endpoint("rtu", device=device), 1)
        b = open_meter("sdm630", Endpoint("rtu", device=device), 2)
        assert a.bus is b.bus
        assert a.read().energy_register_wh == 1_000_000
        with pytest.raises(MeterError, match="unit 2"):  # nobody answers as unit 2 here
            b.read()
    finally:
        first.stop()
        second.stop()


def test_an_implausible_first_reading_says_which_variant_the_profile_covers(
    rtu_meter: Pair,
) -> None:
    served, meter = rtu_meter
    served.energy_wh = float("nan")  # what a DTSU666 keeping its energy elsewhere shows here
    with pytest.raises(MeterError, match="0x101E needs another profile"):
        meter.read()
