"""Whatever a technician writes into config.toml, the pile says what is wrong in one line per
problem, each naming its key, and never fails with a traceback.

Hypothesis starts from the shipped config.toml and breaks it: values replaced by any TOML value
(strings, numbers at their edges, booleans, dates, arrays, tables), keys dropped, keys added.
"""

import base64
import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pile_controller import config
from pile_controller.config.toml_checks import Key

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = tomllib.loads((ROOT / "config.toml").read_text())
# A valid value for each key that has no default (the path without array indices). A key added
# to the settings without a default and without a line here fails every test of this module.
EXAMPLES: dict[str, Any] = {
    "pile.max_current_a": 63,
    "backend.username": "pile",
    "backend.password": "secret",
    "backend.tls.ca": "ca.pem",
    "backend.tls.cert": "pile.pem",
    "backend.tls.key": "pile.key",
    "backend.public_key": base64.b64encode(bytes(32)).decode(),
    "update.public_key": base64.b64encode(bytes(32)).decode(),
    "ocpp.url": "wss://csms.example.com/ocpp",
    "ocpp.charge_point_id": "PILE-0001",
    "ocpp.password_file": "ocpp-password",
    "ocpp.ca_file": "csms-ca.pem",
    "ocpp.cert_file": "pile.pem",
    "ocpp.key_file": "pile.key",
    "hal.estop.pin": 4,
    "hal.rcd_fault.pin": 5,
    "payment.release_after_s": 900,
    "tariff.periods.start": "08:00",
    "tariff.periods.energy_price": "1.50",
    "connectors.meter.transport": "tcp",
    "connectors.meter.host": "10.0.0.9",
    "connectors.meter.port": 502,
    "connectors.meter.device": "/dev/ttyUSB0",
    "connectors.pins.relay.pin": 17,
    "connectors.pins.relay_feedback.pin": 27,
    "connectors.pins.lock.pin": 22,
    "connectors.pins.unlock.pin": 23,
    "connectors.pins.lock_feedback.pin": 24,
    "connectors.pins.stop_button.pin": 25,
    "connectors.keypad.device": "/dev/input/event0",
    "connectors.pilot.pp_adc_channel": 7,
}


def with_every_key(schema: dict[str, Key], table: dict[str, Any], path: str = "") -> None:
    """Sets every key the settings define (from `config.SCHEMA`, so none is forgotten) that
    `table` lacks: to its default, or to its example."""
    for name, key in schema.items():
        where = f"{path}.{name}" if path else name
        assert key.table is not None or key.kind not in ("array", "table", "pin"), where
        if key.kind == "array" and key.table is not None:
            for item in table.setdefault(name, [{}]):
                with_every_key(key.table, item, where)
        elif key.kind in ("table", "pin") and key.table is not None:
            with_every_key(key.table, table.setdefault(name, {}), where)
        elif name not in table:
            table[name] = key.default if key.default is not None else EXAMPLES[where]


# The shipped file with every key set, so that each has a value to break.
EVERY_KEY = tomllib.loads((ROOT / "config.toml").read_text())
with_every_key(config.SCHEMA, EVERY_KEY)
# Every problem starts with where it is: `pile.id: …`, `connectors[0].meter.port: …`, and a key
# that is not a bare TOML key is quoted as TOML would write it: `pile."lat itude": …`.
KEY = r'([A-Za-z0-9_-]+|"([^"\\]|\\.)*")(\[\d+\])?'
NAMES_A_KEY = re.compile(rf"^{KEY}(\.{KEY})*: \S")

toml_scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, -1, 1, 65535, 65536, 2**31, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(),
    st.times(),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


def paths(table: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in the parsed file a value stands: ("backend", "port"), ("connectors", 0)."""
    found = [prefix] if prefix else []
    if isinstance(table, dict):
        for key, value in table.items():
            found += paths(value, (*prefix, key))
    elif isinstance(table, list):
        for i, value in enumerate(table):
            found += paths(value, (*prefix, i))
    return found


def copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy(v) for v in value]
    return value


@st.composite
def broken_configs(draw: st.DrawFn) -> dict[str, Any]:
    raw = copy(draw(st.sampled_from([SHIPPED, EVERY_KEY])))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths(raw) or [()]))
        if not where:
            continue
        *parents, last = where
        holder = raw
        for step in parents:
            holder = holder[step]
        if isinstance(holder, dict) and draw(st.booleans()) and draw(st.booleans()):
            del holder[last]  # a key dropped
        elif isinstance(holder, dict) and draw(st.booleans()):
            holder[draw(st.text(min_size=1, max_size=8))] = draw(toml_values)  # a key added
        else:
            holder[last] = draw(toml_values)  # a value replaced
    return raw


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_configs())
def test_a_broken_config_is_one_line_per_problem_naming_the_key(raw: dict[str, Any]) -> None:
    try:
        config.from_toml(raw, ROOT / "config.toml")
    except config.ConfigError as error:
        assert error.problems
        for problem in error.problems:
            assert "\n" not in problem and NAMES_A_KEY.match(problem), problem


def test_every_key_is_set_in_the_fuzzed_config() -> None:
    config.from_toml(EVERY_KEY, ROOT / "config.toml")  # valid before it is broken
    keys = {".".join(str(k) for k in path if isinstance(k, str)) for path in paths(EVERY_KEY)}
    assert {"pile.max_current_a", "backend.connect_timeout_s", "connectors.phases"} <= keys
    assert len(keys) >= 109  # the key paths as the review counted them, tables included
