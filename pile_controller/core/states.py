"""The connector's states and the table that moves it between them, keyed on state × trigger
(after h11's `_state.py`: the whole machine is this one table, data a reader can see at once,
and the docs' diagram is generated from it).

A trigger is what an input means to the connector (`PlugIn` fires `PLUG_IN`, a settled payment
`SETTLE`, ...). For each state the table has, per trigger, either rows or `IGNORED`:

- rows are tried in order; the first whose guards hold moves the connector (`before` runs
  first, then the state changes, then `after`). When none holds the connector stays: the
  guards said so.
- `IGNORED` says the trigger arrives in that state and means nothing there.

A trigger with neither in the current state is a hole in the table: `NoRow` in the tests
(`PILE_CONTROLLER_STRICT=1`, which tests/conftest.py sets for every process it starts), a
note in the log on a pile, and the connector stays where it is.

Guards and actions name the connector's methods (`core/connector.py`); a test checks that each
exists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    IDLE = "idle"
    RESERVED = "reserved"
    AUTHENTICATING = "authenticating"
    CHARGING = "charging"
    AWAITING_PAYMENT = "awaiting_payment"
    UNLOCKED = "unlocked"
    UNAVAILABLE = "unavailable"
    FAULTED = "faulted"


class Trigger(StrEnum):
    RESTORE = "restore"  # rebuilt from the journal at a start
    RESERVE = "reserve"
    UNRESERVE = "unreserve"
    PLUG_IN = "plug_in"
    AUTHORIZE = "authorize"  # a remote start, or the right code typed
    BEGIN = "begin"  # a session may begin: every input it needs is there
    FINISH = "finish"  # the stop reading came: billed
    SETTLE = "settle"  # paid, or released unpaid
    CANCEL = "cancel"  # the stop button before power flowed
    LEAVE = "leave"  # the vehicle left, or never came
    DISABLE = "disable"
    ENABLE = "enable"
    FAULT = "fault"
    RECOVER = "recover"  # a fault cleared


S, T = State, Trigger

# Named sets of states, for the rules that are not moves.
OUT_OF_SERVICE = frozenset({S.FAULTED, S.UNAVAILABLE})  # refuse reservations and starts
TAKES_REMOTE_START = frozenset({S.IDLE, S.RESERVED, S.AUTHENTICATING})
HOLDS_RESERVATION = frozenset({S.RESERVED, S.AUTHENTICATING})  # a booked driver may arrive
# Rule 2: the cable lock is released only in these (and never while a session holds it).
RELEASABLE = frozenset({S.IDLE, S.RESERVED, S.UNLOCKED, S.UNAVAILABLE})
TESTABLE = frozenset({S.IDLE, S.RESERVED, S.UNAVAILABLE})  # a technician's relay or lock test
NO_TECHNICIAN_UNLOCK = frozenset({S.CHARGING, S.AUTHENTICATING, S.FAULTED})


@dataclass(frozen=True)
class Row:
    dest: State
    when: tuple[str, ...] = ()  # guards that must all hold
    unless: tuple[str, ...] = ()  # guards none of which may hold
    before: str | None = None
    after: str | None = None


IGNORED: tuple[Row, ...] = ()

# Where a connector comes to rest when nothing is under way: the first place whose guards hold.
# Each lists only the places it can reach, so the diagram shows no edge that cannot happen.
# After a fault, or at a start: anything may be pending.
RECOVERED = (
    Row(S.CHARGING, when=("has_open_transaction",)),  # stopped, its stop reading to come
    Row(S.AWAITING_PAYMENT, when=("has_unpaid_transaction",)),
    Row(S.UNAVAILABLE, when=("is_disabled",)),
    Row(S.UNLOCKED, when=("holds_cable", "is_plugged")),
    Row(S.AUTHENTICATING, when=("is_plugged",)),
    Row(S.RESERVED, when=("has_reservation",)),
    Row(S.IDLE),
)
RESTORED = (
    Row(S.CHARGING, when=("has_open_transaction",)),  # cut off by a crash: stopped, billed
    Row(S.AWAITING_PAYMENT, when=("has_unpaid_transaction",)),
    Row(S.UNAVAILABLE, when=("is_disabled",)),
    Row(S.RESERVED, when=("has_reservation",)),
    Row(S.IDLE),
)


def left(before: str | None = None) -> tuple[Row, ...]:
    """The vehicle left (or never came after a remote start): no session, no plug; a start
    authorised for it is dropped."""
    rows = (
        Row(S.UNAVAILABLE, when=("is_disabled",)),
        Row(S.RESERVED, when=("has_reservation",)),
        Row(S.IDLE),
    )
    return tuple(Row(r.dest, r.when, ("is_plugged",), before) for r in rows)


# A session begins only with all of these, and no fault; the last word from the lock must have
# come after it was told to lock (see `power.command_lock`).
BEGIN = Row(
    S.CHARGING,
    when=(
        "is_authorized",
        "is_plugged",
        "holds_cable",
        "lock_confirmed",
        "has_fresh_reading",
        "not_under_test",
    ),
    unless=("has_fault",),
    before="_open_transaction",
    after="_energize",
)
TO_FAULTED = (Row(S.FAULTED),)
OUT_OF_SERVICE_NOW = (Row(S.UNAVAILABLE, before="_leave_service"),)
BACK_IN_SERVICE = (  # reservations and sessions ended when it went out of service
    Row(S.AUTHENTICATING, when=("is_plugged",)),
    Row(S.IDLE),
)

TABLE: dict[State, dict[Trigger, tuple[Row, ...]]] = {
    S.IDLE: {
        T.RESTORE: RESTORED,
        T.RESERVE: (Row(S.RESERVED),),
        T.UNRESERVE: IGNORED,
        T.PLUG_IN: (Row(S.AUTHENTICATING),),
        T.AUTHORIZE: (Row(S.AUTHENTICATING),),
        T.BEGIN: IGNORED,
        T.SETTLE: IGNORED,
        T.LEAVE: IGNORED,
        T.DISABLE: OUT_OF_SERVICE_NOW,
        T.ENABLE: IGNORED,
        T.FAULT: TO_FAULTED,
        T.RECOVER: IGNORED,
    },
    S.RESERVED: {
        T.RESERVE: IGNORED,  # the same reservation again, or one that replaces it
        T.UNRESERVE: (Row(S.IDLE),),
        T.PLUG_IN: (Row(S.AUTHENTICATING),),
        T.AUTHORIZE: (Row(S.AUTHENTICATING),),
        T.BEGIN: IGNORED,
        T.SETTLE: IGNORED,
        T.LEAVE: IGNORED,
        T.DISABLE: OUT_OF_SERVICE_NOW,
        T.ENABLE: IGNORED,
        T.FAULT: TO_FAULTED,
        T.RECOVER: IGNORED,
    },
    S.AUTHENTICATING: {
        T.RESERVE: IGNORED,  # a reservation for the driver at the pile: they type its code
        T.UNRESERVE: IGNORED,
        T.PLUG_IN: IGNORED,  # plugged already (a remote start came first)
        T.AUTHORIZE: IGNORED,  # plugged already: waits for the lock
        T.BEGIN: (BEGIN,),
        T.CANCEL: (Row(S.UNLOCKED, when=("holds_cable",)),),  # the cable was locked already
        T.LEAVE: left(before="_drop_authorization"),
        # Out of service now, unless a cable is held for a session (then after it: Scheduled).
        T.DISABLE: (Row(S.UNAVAILABLE, unless=("holds_cable",), before="_leave_service"),),
        T.ENABLE: IGNORED,
        T.FAULT: TO_FAULTED,
        T.RECOVER: IGNORED,
    },
    S.CHARGING: {
        T.UNRESERVE: IGNORED,
        T.PLUG_IN: IGNORED,
        T.BEGIN: IGNORED,
        T.FINISH: (Row(S.AWAITING_PAYMENT),),
        T.LEAVE: IGNORED,  # the session stops first, and is billed
        T.DISABLE: IGNORED,  # after the session: Scheduled
        T.ENABLE: IGNORED,
        T.FAULT: TO_FAULTED,
        T.RECOVER: IGNORED,
    },
    S.AWAITING_PAYMENT: {
        T.UNRESERVE: IGNORED,
        T.PLUG_IN: IGNORED,
        T.BEGIN: IGNORED,
        T.SETTLE: (Row(S.UNLOCKED),),
        T.LEAVE: IGNORED,  # the cable stays locked until paid
        T.DISABLE: IGNORED,
        T.ENABLE: IGNORED,
        T.FAULT: TO_FAULTED,
        T.RECOVER: IGNORED,
    },
    S.UNLOCKED: {
        T.UNRESERVE: IGNORED,
        T.PLUG_IN: IGNORED,
        T.BEGIN: IGNORED,
        T.SETTLE: IGNORED,
        T.LEAVE: left(before="_drop_authorization"),
        T.DISABLE: IGNORED,
        T.ENABLE: IGNORED,
        T.FAULT: TO_FAULTED,
        T.RECOVER: IGNORED,
    },
    S.UNAVAILABLE: {
        T.UNRESERVE: IGNORED,
        T.PLUG_IN: IGNORED,
        T.BEGIN: IGNORED,
        T.SETTLE: IGNORED,
        T.LEAVE: IGNORED,
        T.DISABLE: IGNORED,
        T.ENABLE: BACK_IN_SERVICE,
        T.FAULT: TO_FAULTED,
        T.RECOVER: IGNORED,
    },
    S.FAULTED: {
        T.UNRESERVE: IGNORED,
        T.PLUG_IN: IGNORED,
        T.BEGIN: IGNORED,
        T.FINISH: IGNORED,  # a session stopped by the fault is billed; it stays faulted
        T.SETTLE: IGNORED,
        T.LEAVE: IGNORED,
        T.DISABLE: IGNORED,  # comes to rest `unavailable` once the fault clears
        T.ENABLE: IGNORED,
        T.FAULT: IGNORED,  # another fault beside the first
        T.RECOVER: tuple(Row(r.dest, r.when, ("has_fault",)) for r in RECOVERED),
    },
}


class NoRow(BaseException):
    """A trigger the table has no row for in the current state: a hole in the table. Raised
    only in a strict run; not an Exception, so that the daemon's guard against bugs (which
    keeps a pile running) does not swallow it there: the test fails."""

    def __init__(self, state: State, trigger: Trigger):
        super().__init__(f"no row for {trigger} in state {state}")
        self.state, self.trigger = state, trigger


STRICT = os.environ.get("PILE_CONTROLLER_STRICT") == "1"
