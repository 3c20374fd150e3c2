"""Whatever arrives on a command topic, the pile answers with a reply and the core stays whole.

Hypothesis starts from a valid message of every command and breaks it: a field replaced by any
JSON value, a field dropped, a field added, times at the edges of the calendar. `decode` must
return a command or a refusal (never raise), and every command it lets through must run in the
core, in any state, without an exception.
"""

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pile_controller.backend.mqtt.commands import Security, decode
from pile_controller.core import commands as cmd
from pile_controller.core.times import iso
from pile_controller.signing import canonical
from rig.bench import T0, Bench
from tests.hostile import valid_messages

OPEN = Security(None, timedelta(seconds=300))
LATER = iso(T0 + timedelta(hours=1))
VALID = valid_messages(LATER)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
OFF_CALENDAR = [
    "9999-12-31T23:59:59-23:59",  # past the end of the calendar once made UTC
    "0001-01-01T00:00:00+23:59",  # before its start
    "2026-02-30T00:00:00.000Z",
    "2026-11-22T03:00:00",  # no offset
    "not a time at all, but long enough",
]
ON_CALENDAR = ["9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00.000Z"]
EDGE_TIMES = OFF_CALENDAR + ON_CALENDAR
edge_times = st.sampled_from(EDGE_TIMES)
edge_numbers = st.sampled_from(["1e400", "NaN", "-0", "999999999999.999999", "0.0000001", "1,5"])


@st.composite
def messages(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(sorted(VALID)))
    body: dict[str, Any] = {"v": 1, "id": "c-1", "ts": iso(T0), **VALID[name]}
    for _ in range(draw(st.integers(0, 3))):
        own = st.sampled_from(sorted(body))
        key = draw(st.one_of(own, own, own, st.text(max_size=8)))
        body[key] = draw(st.one_of(edge_times, edge_numbers, json_values))
    if draw(st.booleans()) and body:
        body.pop(draw(st.sampled_from(sorted(body))))
    return name, body


def run_in_core(command: cmd.Command) -> None:
    for prepare in (lambda b: None, charging):
        bench = Bench()
        prepare(bench)
        bench.command(command)
        bench.advance(60)


def charging(bench: Bench) -> None:
    bench.command(cmd.Reserve(1, "R1", "1234", "u", T0 + timedelta(hours=1)))
    bench.sim.plug(1)
    bench.sim.code(1, "1234")
    bench.advance(5)
    assert bench.c(1).state == "charging"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_a_broken_command_is_refused_or_carried_out_never_raised(
    message: tuple[str, dict[str, Any]],
) -> None:
    name, body = message
    decoded = decode(name, json.dumps(body).encode(), T0, OPEN)
    assert (decoded.command is None) != (decoded.refusal is None)
    if decoded.refusal is not None:
        assert decoded.refusal.status == cmd.ReplyStatus.REJECTED and decoded.refusal.reason
        return
    assert decoded.command is not None
    run_in_core(decoded.command)


@given(st.binary(max_size=200), st.sampled_from([*VALID, "nope"]))
def test_any_bytes_get_a_reply(payload: bytes, name: str) -> None:
    decoded = decode(name, payload, T0, OPEN)
    assert decoded.refusal is not None or decoded.command is not None


BACKEND_KEY = Ed25519PrivateKey.generate()
SIGNED = Security(
    BACKEND_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw), timedelta(seconds=300)
)


@pytest.mark.parametrize("value", OFF_CALENDAR)
def test_a_time_off_the_calendar_is_refused_with_the_command_id(value: str) -> None:
    reserve = {"v": 1, "id": "c-7", "ts": iso(T0), **VALID["reserve"], "expires_at": value}
    decoded = decode("reserve", json.dumps(reserve).encode(), T0, OPEN)
    assert decoded.refusal == cmd.rejected("InvalidPayload") and decoded.id == "c-7"


@pytest.mark.parametrize("value", ON_CALENDAR)
def test_a_time_at_the_edge_of_the_calendar_reaches_the_core(value: str) -> None:
    reserve = {"v": 1, "id": "c-7", "ts": iso(T0), **VALID["reserve"], "expires_at": value}
    decoded = decode("reserve", json.dumps(reserve).encode(), T0, OPEN)
    assert decoded.command is not None
    run_in_core(decoded.command)


@pytest.mark.parametrize("value", EDGE_TIMES)
def test_a_signed_command_with_a_time_far_off_or_off_the_calendar_is_stale(value: str) -> None:
    body = {"v": 1, "id": "c-8", "ts": value, **VALID["stop"]}
    body["sig"] = base64.b64encode(BACKEND_KEY.sign(canonical(body))).decode()
    decoded = decode("stop", json.dumps(body).encode(), T0, SIGNED)
    assert decoded.refusal == cmd.rejected("Stale") and decoded.id == "c-8"


def test_a_time_with_a_space_for_the_t_is_not_a_contract_time() -> None:
    # RFC 3339 lets applications use a space; the contract's times and JSON Schema's
    # date-time do not, so it is refused like any other malformed field, signed or not.
    body = {"v": 1, "id": "c-9", "ts": "2026-11-22 03:00:00Z", **VALID["stop"]}
    body["sig"] = base64.b64encode(BACKEND_KEY.sign(canonical(body))).decode()
    for security in (OPEN, SIGNED):
        decoded = decode("stop", json.dumps(body).encode(), T0, security)
        assert decoded.refusal == cmd.rejected("InvalidPayload") and decoded.id == "c-9"
