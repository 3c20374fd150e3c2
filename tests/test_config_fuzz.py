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

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = tomllib.loads((ROOT / "config.toml").read_text())
# The shipped file with every optional key set, so that each has a value to break.
EVERY_KEY = tomllib.loads(
    (ROOT / "config.toml").read_text()
    + """
[[connectors]]
id = 3
meter = { model = "sdm630", transport = "rtu", device = "/dev/ttyUSB0", baudrate = 9600, \
parity = "N", stopbits = 1, unit = 2 }

[[connectors]]
id = 4
meter = { model = "em340", transport = "tcp", host = "10.0.0.9", port = 502, unit = 1 }
"""
)
EVERY_KEY["pile"]["plug_timeout_s"] = 120
EVERY_KEY["backend"].update(
    username="pile",
    password="secret",
    tls={"ca": "ca.pem", "cert": "pile.pem", "key": "pile.key"},
    public_key=base64.b64encode(bytes(32)).decode(),
    max_clock_skew_s=300,
    keepalive_s=30,
    mqtt_version="5",
)
EVERY_KEY["hal"]["lock_feedback_ms"] = 500
EVERY_KEY["payment"]["release_after_s"] = 900
EVERY_KEY["display"].update(width=480, height=320, font="WenQuanYi Micro Hei", support="400-800")
EVERY_KEY["tariff"]["periods"] = [{"start": "08:00", "energy_price": "1.50"}]
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


def test_every_optional_key_is_set_in_the_fuzzed_config() -> None:
    config.from_toml(EVERY_KEY, ROOT / "config.toml")  # valid before it is broken
