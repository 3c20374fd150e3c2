"""config.toml -> typed, validated settings.

Every key is defined once: a field of the settings dataclasses below, with its default, its
check and (where TOML's type is not the field's) how it is read, in the field's metadata
(`setting(...)`). The reader's schema is derived from these fields, the core takes its timings
from the settings (`core.connector.Context`), and a test holds docs/CONFIG.md to them.

Every mistake a technician can make in the file becomes one line naming the key
(`connectors[0].meter.port: expected an integer, got a string`), all of them at once, never a
traceback. Unknown keys are errors: a misspelt key silently ignored is a pile that behaves
differently from what its technician believes.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import os
import re
import string
import tomllib
import types
import typing
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pile_controller.config.toml_checks import Check, Key, between, matches, one_of, read_table
from pile_controller.core.tariff import Tariff

PILE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
URL_PLACEHOLDERS = {"pile_id", "connector", "transaction_id", "amount", "currency"}
SIM_METER = "sim"
REQUIRED: Any = object()  # a key the file must give
DEFAULT_PATH = Path("/etc/pile-controller/config.toml")


class ConfigError(Exception):
    """The file is not a valid configuration; `problems` holds one line per mistake."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


Convert = Callable[[Any, Path], Any]  # (the checked TOML value, the config's folder) -> value


@dataclass(frozen=True)
class Spec:
    """What a field of the settings is as a key of the file."""

    default: Any = REQUIRED  # the TOML value used when the key is absent; None: no value
    check: Check | None = None
    convert: Convert | None = None  # from TOML's value to the field's, where they differ
    table_of: type | None = None  # the dataclass whose fields are the keys of its table
    pin: bool = False  # a GPIO pin: `5`, or `{ pin = 5, active_low = true }`


def setting(
    default: Any = REQUIRED,
    check: Check | None = None,
    convert: Convert | None = None,
    table_of: type | None = None,
    pin: bool = False,
) -> Any:
    return dataclasses.field(metadata={"setting": Spec(default, check, convert, table_of, pin)})


# --- checks of single values ------------------------------------------------------------------


def url_template(value: str) -> str | None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        return f"is not a valid template: {exc}"
    unknown = names - URL_PLACEHOLDERS
    if unknown:
        allowed = " ".join("{" + n + "}" for n in sorted(URL_PLACEHOLDERS))
        return f"unknown placeholder {{{sorted(unknown)[0]}}} (allowed: {allowed})"
    return None


def time_zone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r}"
    return None


def decimal_price(value: str) -> str | None:
    try:
        price = Decimal(value)
    except InvalidOperation:
        return f'must be a decimal string like "1.20", got {value!r}'
    return None if price.is_finite() and price >= 0 else f"must be zero or more, got {value!r}"


def clock_time(value: str) -> str | None:
    ok = re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value)
    return None if ok else f'must be a time "HH:MM", got {value!r}'


def ed25519_key(value: str) -> str | None:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "must be base64"
    return None if len(raw) == 32 else f"must be a raw 32-byte Ed25519 key, got {len(raw)} bytes"


def ws_url(value: str) -> str | None:
    ok = re.fullmatch(r"wss?://[^/\s:]+(:[0-9]{1,5})?(/\S*)?", value)
    return None if ok else f"must be a ws:// or wss:// URL, got {value!r}"


def local_path(value: str, here: Path) -> str:
    """A path as written in the file, relative to the file's folder unless absolute."""
    return str(here / value) if not Path(value).is_absolute() else value


PORT = between(1, 65535)
PILE_ID_CHECK = matches(PILE_ID, "1..64 of A-Za-z0-9._-")
TOPIC_LEVEL = matches(re.compile(r"^[^#+\s]+$"), "a topic level without # or +")
CURRENCY = matches(re.compile(r"^[A-Z]{3}$"), "an ISO 4217 code")


# --- the settings, key by key -----------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    lat: float = setting(check=between(-90, 90))
    lon: float = setting(check=between(-180, 180))


@dataclass(frozen=True)
class PileSettings:
    id: str = setting(check=PILE_ID_CHECK)
    state_dir: Path = setting()
    location: Location = setting()
    timezone: str = setting(default="UTC", check=time_zone)
    plug_timeout_s: int = setting(default=120, check=between(10, 3600))
    # What all connectors together may draw per phase (the site's grid connection); unset: no
    # site limit. Shared between the connectors as CONTRACT 9.2 says.
    max_current_a: float | None = setting(default=None, check=between(6, 1000))


@dataclass(frozen=True)
class TlsSettings:
    ca: Path | None = setting(default=None)
    cert: Path | None = setting(default=None)
    key: Path | None = setting(default=None)


@dataclass(frozen=True)
class BackendSettings:
    # "mqtt": the contract of sections 3-5; OCPP (CONTRACT 10, 11) takes its keys from [ocpp].
    protocol: str = setting(default="mqtt", check=one_of("mqtt", "ocpp1.6", "ocpp2.0.1"))
    host: str | None = setting(default=None)  # required with protocol "mqtt" (check_backend)
    port: int = setting(default=1883, check=PORT)
    topic_prefix: str = setting(default="piles", check=TOPIC_LEVEL)
    username: str | None = setting(default=None)
    password: str | None = setting(default=None)
    tls: TlsSettings | None = setting(default=None)
    public_key: bytes | None = setting(
        default=None, check=ed25519_key, convert=lambda v, _: base64.b64decode(v)
    )
    max_clock_skew_s: int = setting(default=300, check=between(1, 86400))
    keepalive_s: int = setting(default=30, check=between(5, 3600))
    mqtt_version: str = setting(default="auto", check=one_of("auto", "5", "3.1.1"))
    # How long a TCP connect, a TLS handshake and then the CONNACK may each take.
    connect_timeout_s: int = setting(default=10, check=between(1, 120))


@dataclass(frozen=True)
class OcppSettings:
    """`[ocpp]`: the central system (CSMS) a pile speaking OCPP connects to (CONTRACT 10)."""

    url: str = setting(check=ws_url)  # the pile connects to url + "/" + charge_point_id
    charge_point_id: str | None = setting(
        default=None, check=matches(PILE_ID, "1..64 of A-Za-z0-9._-")
    )
    security_profile: int = setting(default=0, check=between(0, 3))
    password_file: Path | None = setting(default=None)  # profiles 1 and 2
    ca_file: Path | None = setting(default=None)  # profiles 2 and 3
    cert_file: Path | None = setting(default=None)  # profile 3
    key_file: Path | None = setting(default=None)  # profile 3
    vendor: str = setting(default="pile-controller")  # BootNotification
    model: str = setting(default="pile-controller")
    vendor_id: str = setting(default="pile-controller")  # this pile's DataTransfer vendorId


@dataclass(frozen=True)
class Pin:
    """A GPIO pin (BCM numbering), high when active unless `active_low`."""

    pin: int = setting(check=between(2, 27))
    active_low: bool = setting(default=False)


@dataclass(frozen=True)
class HalSettings:
    driver: str = setting(check=one_of("sim", "rpi"))
    relay_feedback_ms: int = setting(default=200, check=between(10, 5000))
    lock_feedback_ms: int = setting(default=1000, check=between(10, 10000))
    # The Raspberry Pi driver's (CONTRACT 9.3); the simulated hardware ignores them.
    pwm_root: Path = setting(default="/sys/class/pwm")
    estop: Pin | None = setting(default=None, pin=True)  # required by the rpi driver
    rcd_fault: Pin | None = setting(default=None, pin=True)
    lock_pulse_ms: int = setting(default=300, check=between(20, 5000))


@dataclass(frozen=True)
class ReservationSettings:
    max_attempts: int = setting(default=5, check=between(1, 100))
    lockout_s: int = setting(default=300, check=between(1, 86400))


@dataclass(frozen=True)
class ControlSettings:
    socket: Path = setting(default="/run/pile-controller/control.sock")


@dataclass(frozen=True)
class MeteringSettings:
    interval_s: int = setting(default=10, check=between(1, 3600))
    stale_after_s: int = setting(default=5, check=between(1, 600))


@dataclass(frozen=True)
class PaymentSettings:
    url_template: str = setting(check=url_template)
    release_after_s: int | None = setting(default=None, check=between(1, 7 * 86400))
    # false: the cable is released at the stop, no payment QR code (CONTRACT 10, 12)
    hold_cable: bool = setting(default=True)


@dataclass(frozen=True)
class UpdateSettings:
    """`[update]` (CONTRACT 12): whose signature a release needs, and how long a new one has
    to come online before the pile goes back to the one before."""

    # None: backend.public_key's (`Settings.release_key`)
    public_key: bytes | None = setting(
        default=None, check=ed25519_key, convert=lambda v, _: base64.b64decode(v)
    )
    confirm_s: int = setting(default=120, check=between(5, 3600))


@dataclass(frozen=True)
class DisplaySettings:
    driver: str = setting(default="png", check=one_of("png", "framebuffer", "none"))
    language: str = setting(default="both", check=one_of("zh", "en", "both"))
    path: str = setting(default="/run/pile-controller/screen-{connector}.png", convert=local_path)
    start_url_template: str = setting(
        default="https://app.example.com/start?pile={pile_id}&c={connector}", check=url_template
    )
    width: int = setting(default=480, check=between(160, 4096))
    height: int = setting(default=320, check=between(160, 4096))
    font: str = setting(default="WenQuanYi Micro Hei")
    support: str = setting(default="")


@dataclass(frozen=True)
class TariffPeriodKeys:
    start: str = setting(check=clock_time)
    energy_price: str = setting(check=decimal_price)


@dataclass(frozen=True)
class TariffKeys:
    """The keys of `[tariff]`; the setting itself is the core's `Tariff`."""

    tariff_id: str = setting()
    currency: str = setting(check=CURRENCY)
    energy_price: str = setting(check=decimal_price)
    service_fee: str = setting(default="0", check=decimal_price)
    periods: tuple[TariffPeriodKeys, ...] = setting(default=[])


@dataclass(frozen=True)
class MeterSettings:
    model: str = setting()
    transport: str | None = setting(default=None, check=one_of("tcp", "rtu"))
    host: str | None = setting(default=None)
    port: int | None = setting(default=None, check=PORT)
    device: str | None = setting(default=None)
    baudrate: int = setting(default=9600, check=between(300, 921600))
    parity: str = setting(default="N", check=one_of("N", "E", "O"))
    stopbits: int = setting(default=1, check=between(1, 2))
    unit: int = setting(default=1, check=between(1, 247))


@dataclass(frozen=True)
class PinSettings:
    """A connector's GPIO pins (`[[connectors]].pins`)."""

    relay: Pin = setting(pin=True)
    relay_feedback: Pin = setting(pin=True)  # the contactor's mirror contact: high = closed
    lock: Pin = setting(pin=True)  # a pulse with `unlock`, else a level (high = locked)
    unlock: Pin | None = setting(default=None, pin=True)
    lock_feedback: Pin = setting(pin=True)  # high = locked
    stop_button: Pin | None = setting(default=None, pin=True)


@dataclass(frozen=True)
class PilotSettings:
    """A connector's control pilot front end: a kernel PWM channel and an MCP300x input."""

    pwm_chip: int = setting(default=0, check=between(0, 15))
    pwm_channel: int = setting(default=0, check=between(0, 15))
    spi_bus: int = setting(default=0, check=between(0, 6))
    spi_device: int = setting(default=0, check=between(0, 3))
    adc_channel: int = setting(default=0, check=between(0, 7))
    volts_per_count: float = setting(default=0.0293, check=between(0.001, 1))
    offset_v: float = setting(default=-15.0, check=between(-50, 50))
    # A socket's proximity (PP) resistor, read on this channel of the same ADC through a
    # pull-up of `pp_pullup_ohm` to the ADC's reference (CONTRACT 12); unset: not read.
    pp_adc_channel: int | None = setting(default=None, check=between(0, 7))
    pp_pullup_ohm: float = setting(default=1000.0, check=between(100, 100_000))


@dataclass(frozen=True)
class KeypadSettings:
    device: Path = setting()  # a Linux input device (evdev)


@dataclass(frozen=True)
class ConnectorSettings:
    id: int = setting(check=between(1, 32))
    meter: MeterSettings = setting()
    max_current_a: float = setting(default=32, check=between(6, 80))
    phases: int = setting(
        default=3, check=lambda v: None if v in (1, 3) else f"must be 1 or 3, got {v}"
    )
    ventilation: bool = setting(default=False)  # the pilot's D (asks for ventilation) may charge
    cable: str = setting(default="socket", check=one_of("socket", "tethered"))
    pins: PinSettings | None = setting(default=None)  # required by the rpi driver
    pilot: PilotSettings | None = setting(default=None)  # required by the rpi driver
    keypad: KeypadSettings | None = setting(default=None)


@dataclass(frozen=True)
class Settings:
    pile: PileSettings = setting()
    backend: BackendSettings = setting()
    ocpp: OcppSettings | None = setting(default=None)
    hal: HalSettings = setting()
    reservation: ReservationSettings = setting(default={})
    control: ControlSettings = setting(default={})
    metering: MeteringSettings = setting(default={})
    payment: PaymentSettings = setting()
    display: DisplaySettings = setting(default={})
    update: UpdateSettings = setting(default={})
    # Until the backend sends one.
    tariff: Tariff | None = setting(
        default=None, table_of=TariffKeys, convert=lambda v, _: Tariff.from_json(v)
    )
    connectors: tuple[ConnectorSettings, ...] = setting()
    source: Path = Path()  # the file they were read from (not a key)

    @property
    def release_key(self) -> bytes | None:
        """The key a release must be signed by (None: releases are not checked for one)."""
        return self.update.public_key or self.backend.public_key


# --- the schema, derived from the fields -------------------------------------------------------

KINDS: dict[Any, str] = {str: "str", int: "int", float: "number", bool: "bool", Path: "str"}


@functools.cache
def keyed_fields(cls: type) -> tuple[tuple[str, Any, Spec], ...]:
    """(name, type with `| None` taken off, spec) of each field of `cls` that is a key."""
    hints = typing.get_type_hints(cls)
    return tuple(
        (f.name, optional_of(hints[f.name]), f.metadata["setting"])
        for f in dataclasses.fields(cls)
        if "setting" in f.metadata
    )


def schema_of(cls: type) -> dict[str, Key]:
    """The keys of a settings dataclass, as the reader checks them."""
    out: dict[str, Key] = {}
    for name, field_type, spec in keyed_fields(cls):
        kind, table = kind_of(field_type, spec)
        required = spec.default is REQUIRED
        default = None if required else spec.default
        out[name] = Key(kind, required, default, spec.check, table)
    return out


def kind_of(field_type: Any, spec: Spec) -> tuple[str, dict[str, Key] | None]:
    if spec.pin:
        return "pin", schema_of(field_type)
    if spec.table_of is not None:
        return "table", schema_of(spec.table_of)
    if dataclasses.is_dataclass(field_type):
        return "table", schema_of(field_type)  # type: ignore[arg-type]
    if typing.get_origin(field_type) is tuple:
        return "array", schema_of(typing.get_args(field_type)[0])
    if spec.convert is not None and field_type not in KINDS:
        return "str", None  # read as text, converted (a base64 key)
    return KINDS[field_type], None


def optional_of(hint: Any) -> Any:
    """`X | None` -> X."""
    if isinstance(hint, types.UnionType):
        kept = [a for a in typing.get_args(hint) if a is not type(None)]
        return kept[0]
    return hint


SCHEMA: dict[str, Key] = schema_of(Settings)


def construct(cls: type, values: dict[str, Any], here: Path) -> Any:
    """The settings dataclass `cls` from the reader's checked values."""
    kwargs = {
        name: value_of(values.get(name), field_type, spec, here)
        for name, field_type, spec in keyed_fields(cls)
    }
    return cls(**kwargs)


def value_of(value: Any, field_type: Any, spec: Spec, here: Path) -> Any:
    if value is None:
        return None
    if spec.convert is not None:
        return spec.convert(value, here)
    if dataclasses.is_dataclass(field_type):
        return construct(field_type, value, here)  # type: ignore[arg-type]
    if typing.get_origin(field_type) is tuple:
        item = typing.get_args(field_type)[0]
        return tuple(construct(item, v, here) for v in value)
    if field_type is Path:
        return Path(local_path(value, here))
    if field_type is float:
        return float(value)
    return value


# --- checks across keys -----------------------------------------------------------------------


def check_connectors(
    connectors: list[dict[str, Any]], problems: list[str], meter_models: set[str]
) -> None:
    seen: set[int] = set()
    for i, connector in enumerate(connectors):
        where = f"connectors[{i}]"
        if connector.get("id") is not None:
            if connector["id"] in seen:
                problems.append(f"{where}.id: duplicate connector id {connector['id']}")
            seen.add(connector["id"])
        meter = connector.get("meter")
        if meter:
            check_meter(meter, f"{where}.meter", problems, meter_models)
    if not connectors:
        problems.append("connectors: at least one [[connectors]] table is required")


def check_meter(
    meter: dict[str, Any], where: str, problems: list[str], meter_models: set[str]
) -> None:
    model = meter.get("model")
    if model is None:
        return
    if model not in meter_models:
        known = ", ".join(sorted(meter_models))
        problems.append(f"{where}.model: unknown meter model {model!r} (known: {known})")
        return
    if model == SIM_METER:
        return
    transport = meter.get("transport")
    if transport is None:
        problems.append(f'{where}.transport: required for model {model!r} ("tcp" or "rtu")')
    needed = {"tcp": ("host", "port"), "rtu": ("device",)}.get(transport or "", ())
    for name in needed:
        if meter.get(name) is None:
            problems.append(f"{where}.{name}: required for transport {transport!r}")


# The files each OCPP security profile needs (the 1.6 security whitepaper's profiles).
PROFILE_FILES = {
    1: ("password_file",),
    2: ("password_file", "ca_file"),
    3: ("ca_file", "cert_file", "key_file"),
}


def check_backend(values: dict[str, Any], problems: list[str], here: Path) -> None:
    """What the protocol needs: a broker's host for MQTT; for OCPP the [ocpp] table, a url
    whose scheme fits the security profile, and the profile's files."""
    backend, ocpp = values.get("backend") or {}, values.get("ocpp")
    protocol = backend.get("protocol")
    if protocol == "mqtt" and backend.get("host") is None:
        problems.append("backend.host: required key is missing")
    if protocol not in ("ocpp1.6", "ocpp2.0.1"):
        return
    if ocpp is None:
        problems.append(f'ocpp.url: required with backend.protocol "{protocol}"')
        return
    url, profile = ocpp.get("url") or "", ocpp.get("security_profile")
    secure = url.startswith("wss://")
    if url and profile is not None and secure != (profile >= 2):
        want = "wss://" if profile >= 2 else "ws://"
        problems.append(f"ocpp.security_profile: profile {profile} needs a {want} url, got {url!r}")
    for name in PROFILE_FILES.get(profile or 0, ()):
        file = ocpp.get(name)
        if file is None:
            problems.append(f"ocpp.{name}: required with security_profile {profile}")
        elif not Path(local_path(file, here)).is_file():
            problems.append(f"ocpp.{name}: {local_path(file, here)}: no such file")


def check_rpi(values: dict[str, Any], problems: list[str]) -> None:
    """What the Raspberry Pi driver needs: an e-stop, each connector's pins and pilot, and no
    pin used twice."""
    hal = values["hal"]
    if hal.get("estop") is None:
        problems.append('hal.estop: required with driver "rpi" (the e-stop loop\'s pin)')
    used: dict[int, str] = {}

    def claim(pin: dict[str, Any] | None, where: str) -> None:
        number = pin.get("pin") if pin else None
        if number is None:
            return
        if number in used:
            problems.append(f"{where}: BCM {number} is used twice (also {used[number]})")
        else:
            used[number] = where

    claim(hal.get("estop"), "hal.estop")
    claim(hal.get("rcd_fault"), "hal.rcd_fault")
    for i, connector in enumerate(values.get("connectors") or []):
        for part in ("pins", "pilot"):
            if connector.get(part) is None:
                problems.append(f'connectors[{i}].{part}: required with driver "rpi"')
        if (connector.get("meter") or {}).get("model") == SIM_METER:
            problems.append(
                f'connectors[{i}].meter.model: "sim" needs driver "sim" (a real pile has a '
                "real meter)"
            )
        for name, pin in (connector.get("pins") or {}).items():
            claim(pin, f"connectors[{i}].pins.{name}")
    check_adc_channels(values.get("connectors") or [], problems)


def check_adc_channels(connectors: list[dict[str, Any]], problems: list[str]) -> None:
    """No two inputs (a pilot, a PP) on one channel of one ADC."""
    used: dict[tuple[int, int, int], str] = {}
    for i, connector in enumerate(connectors):
        pilot = connector.get("pilot")
        if not isinstance(pilot, dict):
            continue  # missing (said above) or not a table (said by its type)
        device = (pilot.get("spi_bus", 0), pilot.get("spi_device", 0))
        for name in ("adc_channel", "pp_adc_channel"):
            channel = pilot.get(name, 0 if name == "adc_channel" else None)
            if channel is None:
                continue
            where = f"connectors[{i}].pilot.{name}"
            if (*device, channel) in used:
                problems.append(
                    f"{where}: channel {channel} of SPI {device[0]}.{device[1]} is used twice "
                    f"(also {used[(*device, channel)]})"
                )
            else:
                used[(*device, channel)] = where


# --- reading the file -------------------------------------------------------------------------


def warnings(settings: Settings) -> list[str]:
    """What check-config warns of without refusing (CONTRACT 9.1): a `.` in a topic level,
    which some brokers (RabbitMQ, NATS) cannot carry."""
    found = {"pile.id": settings.pile.id, "backend.topic_prefix": settings.backend.topic_prefix}
    return [
        f"{key}: {value!r} holds a '.', which RabbitMQ and NATS cannot carry in a topic"
        for key, value in found.items()
        if "." in value
    ]


def default_path() -> Path:
    """Where the daemon and pilectl look without --config: $PILE_CONTROLLER_CONFIG, else
    DEFAULT_PATH."""
    env = os.environ.get("PILE_CONTROLLER_CONFIG")
    return Path(env) if env else DEFAULT_PATH


def load(path: Path, meter_models: set[str] | None = None) -> Settings:
    """Reads and validates the config file; raises ConfigError listing every problem."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    return from_toml(raw, path, meter_models)


def from_toml(raw: dict[str, Any], path: Path, meter_models: set[str] | None = None) -> Settings:
    """Validates a parsed config file; raises ConfigError listing every problem."""
    problems: list[str] = []
    values = read_table(raw, SCHEMA, "", problems)
    if meter_models is None:
        from hal.meters import known_models

        meter_models = known_models()
    check_connectors(values.get("connectors") or [], problems, meter_models)
    check_backend(values, problems, path.resolve().parent)
    if (values.get("hal") or {}).get("driver") == "rpi":
        check_rpi(values, problems)
    if problems:
        raise ConfigError(problems)
    source = path.resolve()
    settings: Settings = construct(Settings, values, source.parent)
    return dataclasses.replace(settings, source=source)
