"""config.toml -> typed, validated settings.

Every mistake a technician can make in the file becomes one line naming the key
(`connectors[0].meter.port: expected an integer, got a string`), all of them at once, never a
traceback. Unknown keys are errors: a misspelt key silently ignored is a pile that behaves
differently from what its technician believes.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import string
import tomllib
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pile_controller.core.tariff import Tariff

PILE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
URL_PLACEHOLDERS = {"pile_id", "connector", "transaction_id", "amount", "currency"}
SIM_METER = "sim"


class ConfigError(Exception):
    """The file is not a valid configuration; `problems` holds one line per mistake."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float


@dataclass(frozen=True)
class PileSettings:
    id: str
    state_dir: Path
    location: Location
    timezone: str
    plug_timeout_s: int


@dataclass(frozen=True)
class TlsSettings:
    ca: Path | None
    cert: Path | None
    key: Path | None


@dataclass(frozen=True)
class BackendSettings:
    host: str
    port: int
    topic_prefix: str
    username: str | None
    password: str | None
    tls: TlsSettings | None
    public_key: bytes | None
    max_clock_skew_s: int
    keepalive_s: int
    mqtt_version: str


@dataclass(frozen=True)
class HalSettings:
    driver: str
    relay_feedback_ms: int
    lock_feedback_ms: int


@dataclass(frozen=True)
class ReservationSettings:
    max_attempts: int
    lockout_s: int


@dataclass(frozen=True)
class ControlSettings:
    socket: Path


@dataclass(frozen=True)
class MeteringSettings:
    interval_s: int
    stale_after_s: int


@dataclass(frozen=True)
class PaymentSettings:
    url_template: str
    release_after_s: int | None


@dataclass(frozen=True)
class DisplaySettings:
    driver: str
    language: str
    path: str
    start_url_template: str
    width: int
    height: int
    font: str
    support: str


@dataclass(frozen=True)
class MeterSettings:
    model: str
    transport: str | None
    host: str | None
    port: int | None
    device: str | None
    baudrate: int
    parity: str
    stopbits: int
    unit: int


@dataclass(frozen=True)
class ConnectorSettings:
    id: int
    meter: MeterSettings


@dataclass(frozen=True)
class Settings:
    pile: PileSettings
    backend: BackendSettings
    hal: HalSettings
    reservation: ReservationSettings
    control: ControlSettings
    metering: MeteringSettings
    payment: PaymentSettings
    display: DisplaySettings
    tariff: Tariff | None  # until the backend sends one
    connectors: tuple[ConnectorSettings, ...]
    source: Path


# --- the schema -----------------------------------------------------------------------------

Check = Callable[[Any], str | None]


@dataclass(frozen=True)
class Key:
    kind: str  # "int", "number", "str", "bool", "table", "array"
    required: bool = False
    default: Any = None
    check: Check | None = None
    table: dict[str, Key] | None = None  # for "table" and for an "array" of tables


def between(low: float, high: float) -> Check:
    return lambda v: None if low <= v <= high else f"must be between {low} and {high}, got {v}"


def one_of(*choices: str) -> Check:
    names = ", ".join(f'"{c}"' for c in choices)
    return lambda v: None if v in choices else f"must be one of {names}, got {v!r}"


def matches(pattern: re.Pattern[str], what: str) -> Check:
    return lambda v: None if pattern.match(v) else f"must be {what}, got {v!r}"


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


PORT = between(1, 65535)

SCHEMA: dict[str, Key] = {
    "pile": Key(
        "table",
        required=True,
        table={
            "id": Key("str", required=True, check=matches(PILE_ID, "1..64 of A-Za-z0-9._-")),
            "state_dir": Key("str", required=True),
            "location": Key(
                "table",
                required=True,
                table={
                    "lat": Key("number", required=True, check=between(-90, 90)),
                    "lon": Key("number", required=True, check=between(-180, 180)),
                },
            ),
            "timezone": Key("str", default="UTC", check=time_zone),
            "plug_timeout_s": Key("int", default=120, check=between(10, 3600)),
        },
    ),
    "backend": Key(
        "table",
        required=True,
        table={
            "host": Key("str", required=True),
            "port": Key("int", default=1883, check=PORT),
            "topic_prefix": Key(
                "str",
                default="piles",
                check=matches(re.compile(r"^[^#+\s]+$"), "a topic level without # or +"),
            ),
            "username": Key("str"),
            "password": Key("str"),
            "tls": Key("table", table={"ca": Key("str"), "cert": Key("str"), "key": Key("str")}),
            "public_key": Key("str", check=ed25519_key),
            "max_clock_skew_s": Key("int", default=300, check=between(1, 86400)),
            "keepalive_s": Key("int", default=30, check=between(5, 3600)),
            "mqtt_version": Key("str", default="5", check=one_of("5", "3.1.1")),
        },
    ),
    "hal": Key(
        "table",
        required=True,
        table={
            "driver": Key("str", required=True, check=one_of("sim", "rpi")),
            "relay_feedback_ms": Key("int", default=200, check=between(10, 5000)),
            "lock_feedback_ms": Key("int", default=1000, check=between(10, 10000)),
        },
    ),
    "reservation": Key(
        "table",
        default={},
        table={
            "max_attempts": Key("int", default=5, check=between(1, 100)),
            "lockout_s": Key("int", default=300, check=between(1, 86400)),
        },
    ),
    "control": Key(
        "table",
        default={},
        table={
            "socket": Key("str", default="/run/pile-controller/control.sock"),
        },
    ),
    "metering": Key(
        "table",
        default={},
        table={
            "interval_s": Key("int", default=10, check=between(1, 3600)),
            "stale_after_s": Key("int", default=5, check=between(1, 600)),
        },
    ),
    "payment": Key(
        "table",
        required=True,
        table={
            "url_template": Key("str", required=True, check=url_template),
            "release_after_s": Key("int", check=between(1, 7 * 86400)),
        },
    ),
    "display": Key(
        "table",
        default={},
        table={
            "driver": Key("str", default="png", check=one_of("png", "framebuffer", "none")),
            "language": Key("str", default="both", check=one_of("zh", "en", "both")),
            "path": Key("str", default="/var/lib/pile-controller/screen-{connector}.png"),
            "start_url_template": Key(
                "str",
                default="https://app.example.com/start?pile={pile_id}&c={connector}",
                check=url_template,
            ),
            "width": Key("int", default=480, check=between(160, 4096)),
            "height": Key("int", default=320, check=between(160, 4096)),
            "font": Key("str", default="WenQuanYi Micro Hei"),
            "support": Key("str", default=""),
        },
    ),
    "tariff": Key(
        "table",
        table={
            "tariff_id": Key("str", required=True),
            "currency": Key(
                "str", required=True, check=matches(re.compile(r"^[A-Z]{3}$"), "an ISO 4217 code")
            ),
            "energy_price": Key("str", required=True, check=decimal_price),
            "service_fee": Key("str", default="0", check=decimal_price),
            "periods": Key(
                "array",
                default=[],
                table={
                    "start": Key("str", required=True, check=clock_time),
                    "energy_price": Key("str", required=True, check=decimal_price),
                },
            ),
        },
    ),
    "connectors": Key(
        "array",
        required=True,
        table={
            "id": Key("int", required=True, check=between(1, 32)),
            "meter": Key(
                "table",
                required=True,
                table={
                    "model": Key("str", required=True),
                    "transport": Key("str", check=one_of("tcp", "rtu")),
                    "host": Key("str"),
                    "port": Key("int", check=PORT),
                    "device": Key("str"),
                    "baudrate": Key("int", default=9600, check=between(300, 921600)),
                    "parity": Key("str", default="N", check=one_of("N", "E", "O")),
                    "stopbits": Key("int", default=1, check=between(1, 2)),
                    "unit": Key("int", default=1, check=between(1, 247)),
                },
            ),
        },
    ),
}


# --- reading -------------------------------------------------------------------------------

KIND_NAMES = {
    "int": "an integer",
    "number": "a number",
    "str": "a string",
    "bool": "true or false",
    "table": "a table",
    "array": "an array of tables",
}


def type_name(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        dict: "a table",
        list: "an array",
    }
    return names.get(type(value), type(value).__name__)


def has_kind(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "bool"
    return {
        "int": isinstance(value, int),
        "number": isinstance(value, int | float),
        "str": isinstance(value, str),
        "table": isinstance(value, dict),
        "array": isinstance(value, list) and all(isinstance(v, dict) for v in value),
    }.get(kind, False)


def read_table(
    raw: dict[str, Any], spec: dict[str, Key], path: str, problems: list[str]
) -> dict[str, Any]:
    """Checks `raw` against `spec`, filling defaults; appends every problem to `problems`."""
    prefix = f"{path}." if path else ""
    for name in raw:
        if name not in spec:
            problems.append(f"{prefix}{toml_key(name)}: unknown key")
    out: dict[str, Any] = {}
    for name, key in spec.items():
        where = f"{prefix}{name}"
        if name not in raw:
            if key.required:
                problems.append(f"{where}: required key is missing")
            out[name] = (
                read_value(key.default, key, where, problems) if key.default is not None else None
            )
            continue
        out[name] = read_value(raw[name], key, where, problems)
    return out


def toml_key(name: str) -> str:
    """The key as TOML would write it: bare if it can be, else quoted (a key with a newline
    must not break the one-line-per-problem rule)."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def read_value(value: Any, key: Key, where: str, problems: list[str]) -> Any:
    if not has_kind(value, key.kind):
        problems.append(f"{where}: expected {KIND_NAMES[key.kind]}, got {type_name(value)}")
        return None
    if key.kind == "table" and key.table is not None:
        return read_table(value, key.table, where, problems)
    if key.kind == "array" and key.table is not None:
        return [
            read_table(item, key.table, f"{where}[{i}]", problems) for i, item in enumerate(value)
        ]
    if key.check is not None:
        problem = key.check(value)
        if problem:
            problems.append(f"{where}: {problem}")
            return None
    return value


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


DEFAULT_PATH = Path("/etc/pile-controller/config.toml")


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
    if problems:
        raise ConfigError(problems)
    return build(values, path.resolve())


def build(v: dict[str, Any], source: Path) -> Settings:
    here = source.parent

    def local(p: str) -> Path:
        return (here / p) if not Path(p).is_absolute() else Path(p)

    pile, backend, tariff = v["pile"], v["backend"], v["tariff"]
    tls = backend["tls"]
    return Settings(
        pile=PileSettings(
            id=pile["id"],
            state_dir=local(pile["state_dir"]),
            location=Location(float(pile["location"]["lat"]), float(pile["location"]["lon"])),
            timezone=pile["timezone"],
            plug_timeout_s=pile["plug_timeout_s"],
        ),
        backend=BackendSettings(
            host=backend["host"],
            port=backend["port"],
            topic_prefix=backend["topic_prefix"],
            username=backend["username"],
            password=backend["password"],
            tls=TlsSettings(*(local(tls[k]) if tls[k] else None for k in ("ca", "cert", "key")))
            if tls is not None
            else None,
            public_key=base64.b64decode(backend["public_key"]) if backend["public_key"] else None,
            max_clock_skew_s=backend["max_clock_skew_s"],
            keepalive_s=backend["keepalive_s"],
            mqtt_version=backend["mqtt_version"],
        ),
        hal=HalSettings(**v["hal"]),
        reservation=ReservationSettings(**v["reservation"]),
        control=ControlSettings(socket=local(v["control"]["socket"])),
        metering=MeteringSettings(**v["metering"]),
        payment=PaymentSettings(**v["payment"]),
        display=DisplaySettings(**{**v["display"], "path": str(local(v["display"]["path"]))}),
        tariff=Tariff.from_json(tariff) if tariff is not None else None,
        connectors=tuple(
            ConnectorSettings(id=c["id"], meter=MeterSettings(**c["meter"]))
            for c in v["connectors"]
        ),
        source=source,
    )
