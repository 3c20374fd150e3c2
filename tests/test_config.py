"""config.toml: every key of CONTRACT §7 read and checked, one line per problem."""

import json
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from pile_controller import config
from pile_controller.core.tariff import Tariff
from pile_controller.service.start import main
from rig.pile import pile_controller

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_EXAMPLE = """
[pile]
id = "PILE-0001"
state_dir = "/var/lib/pile-controller"
location = { lat = 22.5431, lon = 114.0579 }

[backend]
host = "127.0.0.1"
port = 1883
topic_prefix = "piles"

[hal]
driver = "sim"
relay_feedback_ms = 200

[reservation]
max_attempts = 5
lockout_s = 300

[control]
socket = "/run/pile-controller/control.sock"

[metering]
interval_s = 10
stale_after_s = 5

[payment]
url_template = "https://pay.example.com/p?pile={pile_id}&tx={transaction_id}&amount={amount}&cur={currency}"

[display]
driver = "png"
language = "both"
path = "/var/lib/pile-controller/screen-{connector}.png"
start_url_template = "https://app.example.com/start?pile={pile_id}&c={connector}"

[[connectors]]
id = 1
meter = { model = "sim" }
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(config.ConfigError) as caught:
        config.load(path)
    return caught.value.problems


def edit(old: str, new: str) -> str:
    assert old in CONTRACT_EXAMPLE
    return CONTRACT_EXAMPLE.replace(old, new)


def test_the_shipped_default_config_is_valid() -> None:
    s = config.load(ROOT / "config.toml")
    assert s.hal.driver == "sim" and [c.meter.model for c in s.connectors] == ["sim", "sim"]
    assert s.backend.host == "127.0.0.1" and s.backend.port == 1883
    assert s.pile.state_dir == ROOT / "state"  # relative to the file, not the working dir
    assert s.tariff == Tariff("default", "CNY", Decimal("1.20"), Decimal("0.80"))


def test_the_contract_example_reads_into_typed_settings(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(CONTRACT_EXAMPLE)
    s = config.load(path)
    assert s.pile.id == "PILE-0001" and s.pile.location.lat == 22.5431
    assert s.reservation.max_attempts == 5 and s.metering.stale_after_s == 5
    assert s.control.socket == Path("/run/pile-controller/control.sock")
    assert s.payment.release_after_s is None and s.backend.public_key is None


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "relay_feedback_ms = 200",
            "relay_feedback_ms = 200\nrelay_feedbak = 1",
            "hal.relay_feedbak: unknown key",
        ),
        ("[metering]", "[meterin]\nx = 1\n[metering]", "meterin: unknown key"),
        ("port = 1883", 'port = "1883"', "backend.port: expected an integer, got a string"),
        ('id = "PILE-0001"\n', "", "pile.id: required key is missing"),
        (
            "max_attempts = 5",
            "max_attempts = 0",
            "reservation.max_attempts: must be between 1 and 100, got 0",
        ),
        (
            'driver = "sim"',
            'driver = "arduino"',
            'hal.driver: must be one of "sim", "rpi", got \'arduino\'',
        ),
        (
            'id = "PILE-0001"',
            'id = "PILE 0001"',
            "pile.id: must be 1..64 of A-Za-z0-9._-, got 'PILE 0001'",
        ),
        (
            "lat = 22.5431",
            "lat = 122.5",
            "pile.location.lat: must be between -90 and 90, got 122.5",
        ),
        ("tx={transaction_id}", "tx={txid}", "payment.url_template: unknown placeholder {txid}"),
        (
            'meter = { model = "sim" }',
            'meter = { model = "sdm999" }',
            "connectors[0].meter.model: unknown meter model 'sdm999'",
        ),
        (
            'meter = { model = "sim" }',
            'meter = { model = "sim" }\n[[connectors]]\nid = 1\nmeter = { model = "sim" }',
            "connectors[1].id: duplicate connector id 1",
        ),
        (
            "lockout_s = 300",
            "lockout_s = true",
            "reservation.lockout_s: expected an integer, got a boolean",
        ),
    ],
)
def test_each_mistake_is_one_line_naming_the_key(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    found = problems(tmp_path, edit(old, new))
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_all_mistakes_are_reported_at_once(tmp_path: Path) -> None:
    text = edit("port = 1883", "port = 0").replace("interval_s = 10", "interval_s = -1")
    assert problems(tmp_path, text) == [
        "backend.port: must be between 1 and 65535, got 0",
        "metering.interval_s: must be between 1 and 3600, got -1",
    ]


def test_missing_connectors_are_reported(tmp_path: Path) -> None:
    text = CONTRACT_EXAMPLE.split("[[connectors]]")[0]
    assert problems(tmp_path, text) == [
        "connectors: required key is missing",
        "connectors: at least one [[connectors]] table is required",
    ]


def test_not_toml_is_one_line(tmp_path: Path) -> None:
    [line] = problems(tmp_path, "[pile\nid=")
    assert "not valid TOML" in line


def test_check_config_exits_zero_for_a_valid_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(ROOT / "config.toml")]) == 0


def test_check_config_prints_one_line_per_problem_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(edit("port = 1883", 'port = "x"').replace("lockout_s = 300", "lockout_s = 0"))
    run = pile_controller("check-config", str(path))
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        "backend.port: expected an integer, got a string",
        "reservation.lockout_s: must be between 1 and 86400, got 0",
    ]


def test_check_config_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    run = pile_controller("check-config", str(tmp_path / "nope.toml"))
    assert run.returncode == 1 and len(run.stderr.splitlines()) == 1
    assert "cannot read" in run.stderr


MODBUS_METER = (
    'meter = { model = "sdm630", transport = "tcp", host = "127.0.0.1", port = 502, unit = 1 }'
)


def test_the_contract_example_meter_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(edit('meter = { model = "sim" }', MODBUS_METER))
    meter = config.load(path).connectors[0].meter
    assert (meter.model, meter.transport, meter.host, meter.port, meter.unit) == (
        "sdm630",
        "tcp",
        "127.0.0.1",
        502,
        1,
    )
    assert (meter.baudrate, meter.parity, meter.stopbits) == (9600, "N", 1)


@pytest.mark.parametrize(
    ("meter", "expected"),
    [
        ('{ model = "sdm630" }', "connectors[0].meter.transport: required for model 'sdm630'"),
        (
            '{ model = "sdm630", transport = "tcp", port = 502 }',
            "connectors[0].meter.host: required for transport 'tcp'",
        ),
        (
            '{ model = "dtsu666", transport = "rtu" }',
            "connectors[0].meter.device: required for transport 'rtu'",
        ),
        (
            '{ model = "sdm630", transport = "rtu", device = "/dev/ttyUSB0", parity = "X" }',
            'connectors[0].meter.parity: must be one of "N", "E", "O"',
        ),
        (
            '{ model = "sdm630", transport = "tcp", host = "h", port = 502, unit = 300 }',
            "connectors[0].meter.unit: must be between 1 and 247, got 300",
        ),
    ],
)
def test_meter_mistakes_name_the_key(tmp_path: Path, meter: str, expected: str) -> None:
    [problem] = problems(tmp_path, edit('meter = { model = "sim" }', f"meter = {meter}"))
    assert problem.startswith(expected), problem


def test_the_pilots_keys_are_checked_one_line_each() -> None:
    text = edit(
        'meter = { model = "sim" }',
        'meter = { model = "sim" }\nmax_current_a = 5\nphases = 2\ncable = "coiled"',
    ).replace("lon = 114.0579 }", "lon = 114.0579 }\nmax_current_a = 4")
    assert problems_of(text) == [
        "pile.max_current_a: must be between 6 and 1000, got 4",
        "connectors[0].max_current_a: must be between 6 and 80, got 5",
        "connectors[0].phases: must be 1 or 3, got 2",
        'connectors[0].cable: must be one of "socket", "tethered", got \'coiled\'',
    ]


def test_a_connector_without_pilot_keys_gets_the_defaults() -> None:
    settings = config.from_toml(tomllib.loads(CONTRACT_EXAMPLE), Path("c.toml"))
    c = settings.connectors[0]
    assert (c.max_current_a, c.phases, c.ventilation, c.cable) == (32.0, 3, False, "socket")
    assert settings.pile.max_current_a is None


def problems_of(text: str) -> list[str]:
    with pytest.raises(config.ConfigError) as caught:
        config.from_toml(tomllib.loads(text), Path("c.toml"))
    return caught.value.problems


RPI = (ROOT / "config.rpi.toml").read_text()


def test_the_shipped_raspberry_pi_example_is_valid() -> None:
    s = config.load(ROOT / "config.rpi.toml")
    assert s.hal.estop == config.Pin(4, True) and s.hal.rcd_fault == config.Pin(17, False)
    pins = s.connectors[0].pins
    assert (
        pins is not None
        and pins.relay == config.Pin(5, False)
        and pins.stop_button == config.Pin(21, True)
    )
    pilot = s.connectors[1].pilot
    assert pilot is not None and (pilot.pwm_channel, pilot.adc_channel) == (1, 1)


def test_a_pin_used_twice_or_out_of_range_is_named() -> None:
    text = RPI.replace("relay_feedback = 16", "relay_feedback = 5").replace(
        "rcd_fault = { pin = 17 }", "rcd_fault = { pin = 28 }"
    )
    assert problems_of(text) == [
        "hal.rcd_fault.pin: must be between 2 and 27, got 28",
        "connectors[1].pins.relay_feedback: BCM 5 is used twice (also connectors[0].pins.relay)",
    ]


def test_the_rpi_driver_needs_an_estop_and_each_connectors_pins_and_pilot() -> None:
    text = RPI.replace("estop = { pin = 4, active_low = true }", "")
    text = text.replace(
        "pilot = { pwm_chip = 0, pwm_channel = 1, spi_bus = 0, spi_device = 0, adc_channel = 1, "
        "volts_per_count = 0.0293, offset_v = -15.0 }",
        "",
    )
    assert problems_of(text) == [
        'hal.estop: required with driver "rpi" (the e-stop loop\'s pin)',
        'connectors[1].pilot: required with driver "rpi"',
    ]


def test_a_pin_is_a_number_or_a_table_and_nothing_else() -> None:
    text = RPI.replace("lock_feedback = 26", 'lock_feedback = "26"')
    assert problems_of(text) == [
        "connectors[0].pins.lock_feedback: expected a BCM pin number or a table "
        "{ pin = N, active_low = true }, got a string"
    ]


def test_a_simulated_meter_needs_the_simulated_pile() -> None:
    text = RPI.replace(
        'meter = { model = "sdm630", transport = "rtu", device = "/dev/ttyAMA0", baudrate = 9600, '
        'parity = "N", stopbits = 1, unit = 2 }',
        'meter = { model = "sim" }',
    )
    assert problems_of(text) == [
        'connectors[1].meter.model: "sim" needs driver "sim" (a real pile has a real meter)'
    ]


def test_check_config_warns_of_a_dot_in_a_topic_level_and_still_passes(tmp_path: Path) -> None:
    path = tmp_path / "dots.toml"
    path.write_text(
        edit('id = "PILE-0001"', 'id = "site.pile-1"').replace(
            'topic_prefix = "piles"', 'topic_prefix = "fleet.eu"'
        )
    )
    run = pile_controller("check-config", str(path))
    assert (run.returncode, run.stdout) == (0, f"{path}: OK\n")
    assert run.stderr.splitlines() == [
        "warning: pile.id: 'site.pile-1' holds a '.', which RabbitMQ and NATS cannot carry in a"
        " topic",
        "warning: backend.topic_prefix: 'fleet.eu' holds a '.', which RabbitMQ and NATS cannot"
        " carry in a topic",
    ]


OCPP_BACKEND = '[backend]\nprotocol = "ocpp1.6"\n'


def ocpp(tmp_path: Path, table: str, backend: str = OCPP_BACKEND) -> list[str]:
    """The contract example speaking OCPP (CONTRACT 10): its [backend] replaced."""
    text = CONTRACT_EXAMPLE.replace(
        '[backend]\nhost = "127.0.0.1"\nport = 1883\ntopic_prefix = "piles"\n', backend + table
    )
    try:
        config.from_toml(tomllib.loads(text), tmp_path / "c.toml")
    except config.ConfigError as exc:
        return exc.problems
    return []


def test_an_ocpp_pile_needs_no_broker_and_takes_the_contracts_keys(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("secret")
    table = '[ocpp]\nurl = "ws://csms.example.com:9000/ocpp"\nsecurity_profile = 1\n'
    assert ocpp(tmp_path, table + 'password_file = "pw"\n') == []
    settings = config.from_toml(
        tomllib.loads(
            CONTRACT_EXAMPLE.replace("[backend]\n", OCPP_BACKEND).replace(
                "[hal]", table + 'password_file = "pw"\n\n[hal]'
            )
        ),
        tmp_path / "c.toml",
    )
    assert settings.backend.protocol == "ocpp1.6" and settings.ocpp is not None
    assert settings.ocpp.password_file == tmp_path / "pw"
    assert (settings.ocpp.vendor_id, settings.ocpp.charge_point_id) == ("pile-controller", None)


def ocpp_table(**keys: object) -> str:
    return "[ocpp]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())


WS, WSS = "ws://csms/ocpp", "wss://csms/ocpp"


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("", 'ocpp.url: required with backend.protocol "ocpp1.6"'),
        (
            ocpp_table(url="http://csms"),
            "ocpp.url: must be a ws:// or wss:// URL, got 'http://csms'",
        ),
        (
            ocpp_table(url=WS, security_profile=2, password_file="pw", ca_file="pw"),
            f"ocpp.security_profile: profile 2 needs a wss:// url, got {WS!r}",
        ),
        (ocpp_table(url=WSS), f"ocpp.security_profile: profile 0 needs a ws:// url, got {WSS!r}"),
        (
            ocpp_table(url=WS, security_profile=1),
            "ocpp.password_file: required with security_profile 1",
        ),
        (
            ocpp_table(url=WSS, security_profile=3, ca_file="pw", cert_file="pw", key_file="x"),
            "ocpp.key_file: {here}/x: no such file",
        ),
        (
            ocpp_table(url=WS, security_profile=4),
            "ocpp.security_profile: must be between 0 and 3, got 4",
        ),
    ],
)
def test_a_bad_ocpp_setup_is_one_line_naming_the_key(
    tmp_path: Path, table: str, expected: str
) -> None:
    (tmp_path / "pw").write_text("secret")
    assert ocpp(tmp_path, table) == [expected.format(here=tmp_path)]


def test_an_mqtt_pile_still_needs_its_broker(tmp_path: Path) -> None:
    assert ocpp(tmp_path, "", backend="[backend]\nport = 1883\n") == [
        "backend.host: required key is missing"
    ]


def test_an_unreadable_password_file_stops_the_start_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("")
    (tmp_path / "c.toml").write_text(
        CONTRACT_EXAMPLE.replace("[backend]\n", OCPP_BACKEND).replace(
            "[hal]",
            '[ocpp]\nurl = "ws://127.0.0.1:9/ocpp"\nsecurity_profile = 1\n'
            f'password_file = "{tmp_path}/pw"\n\n[hal]',
        )
    )
    run = pile_controller("--config", str(tmp_path / "c.toml"))
    assert run.returncode == 1
    assert run.stderr == f"pile-controller: ocpp.password_file: {tmp_path}/pw is empty\n"
