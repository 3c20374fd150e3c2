"""`pilectl meter read`: commissioning a meter without the daemon (CONTRACT §8)."""

import json
from collections.abc import Iterator

import pytest

from rig.broker import free_port
from rig.meter import ServedMeter
from rig.pile import pilectl


@pytest.fixture
def sdm630_on_tcp() -> Iterator[tuple[ServedMeter, int]]:
    served = ServedMeter("sdm630")
    served.energy_wh, served.power_w, served.current_a = 1_234_567.0, 7012.5, [10.0, 10.5, 11.0]
    yield served, served.serve_tcp()
    served.stop()


def test_json_over_tcp(sdm630_on_tcp: tuple[ServedMeter, int]) -> None:
    _, port = sdm630_on_tcp
    run = pilectl("meter", "read", "--model", "sdm630", "--tcp", f"127.0.0.1:{port}", "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {
        "energy_register_wh": 1234567,
        "power_w": 7012.5,
        "voltage_v": [230.0, 230.0, 230.0],
        "current_a": [10.0, 10.5, 11.0],
        "serial": "12345678",
    }


def test_human_output_over_rtu() -> None:
    served = ServedMeter("ddsu666", unit=3)
    device = served.serve_rtu()
    try:
        run = pilectl("meter", "read", "--model", "ddsu666", "--rtu", device, "--unit", "3")
    finally:
        served.stop()
    assert run.returncode == 0, run.stderr
    assert "import register  1000000 Wh (1000.000 kWh)" in run.stdout
    assert "voltage          L1 230 V" in run.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "sdm999", "--tcp", "127.0.0.1:1"], "pilectl: unknown meter model 'sdm999'\n"),
        (
            ["--model", "sdm630", "--tcp", "nonsense"],
            "pilectl: --tcp wants HOST:PORT, got 'nonsense'\n",
        ),
        (
            ["--model", "sdm630", "--rtu", "/dev/ttyNOPE"],
            "pilectl: cannot connect to /dev/ttyNOPE (9600 8N1)\n",
        ),
    ],
)
def test_mistakes_are_one_line(args: list[str], message: str) -> None:
    run = pilectl("meter", "read", *args)
    assert (run.returncode, run.stderr) == (1, message)


def test_an_unreachable_port_and_a_wrong_unit_are_one_line(
    sdm630_on_tcp: tuple[ServedMeter, int],
) -> None:
    _, port = sdm630_on_tcp
    closed = free_port()
    run = pilectl("meter", "read", "--model", "sdm630", "--tcp", f"127.0.0.1:{closed}")
    assert (run.returncode, run.stderr) == (1, f"pilectl: cannot connect to 127.0.0.1:{closed}\n")
    run = pilectl("meter", "read", "--model", "sdm630", "--tcp", f"127.0.0.1:{port}", "--unit", "9")
    assert run.returncode == 1 and len(run.stderr.splitlines()) == 1
    assert "from unit 9 on" in run.stderr
