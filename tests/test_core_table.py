"""The connector's table (core/states.py): every guard and action it names is the connector's,
and a trigger with no row in the current state is a hole: it fails a strict run (every test),
and on a pile it is noted once and moves nothing."""

import pytest

from pile_controller.core import connector as connector_module
from pile_controller.core.connector import Connector
from pile_controller.core.effects import Note
from pile_controller.core.states import STRICT, TABLE, NoRow, State, Trigger
from rig.bench import Bench


def test_every_guard_and_action_the_table_names_is_a_method_of_the_connector() -> None:
    named = {
        name
        for rows in (r for by_trigger in TABLE.values() for r in by_trigger.values())
        for row in rows
        for name in (*row.when, *row.unless, row.before, row.after)
        if name
    }
    assert named and all(callable(getattr(Connector, name, None)) for name in named)


def test_every_state_has_a_row_or_an_explicit_ignore_for_a_fault() -> None:
    assert set(TABLE) == set(State)
    assert all(Trigger.FAULT in by_trigger for by_trigger in TABLE.values())


def test_a_trigger_with_no_row_fails_a_strict_run() -> None:
    assert STRICT  # tests/conftest.py
    c = Bench().c(1)
    with pytest.raises(NoRow, match="no row for finish in state idle"):
        c.step(Trigger.FINISH)


def test_on_a_pile_a_hole_is_noted_once_and_moves_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connector_module, "STRICT", False)
    b = Bench()
    c = b.c(1)
    assert not c.step(Trigger.FINISH) and not c.step(Trigger.FINISH)
    assert c.state is State.IDLE
    notes = [e for e in c.drain() if isinstance(e, Note)]
    assert notes == [Note(1, "no row for finish in state idle: ignored")]
