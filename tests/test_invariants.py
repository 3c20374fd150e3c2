"""Random walks through everything that can happen to a pile; after every step the relay and
the cable lock of the simulated hardware obey the invariants of CONTRACT §2."""

from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hal.pilot import CpState
from pile_controller.core import commands as cmd
from pile_controller.core.published import TransactionStopped
from rig.bench import Bench

CONNECTORS = st.sampled_from([1, 2])
RELEASABLE = {"idle", "reserved", "unlocked", "unavailable"}


class PileWalk(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.b = Bench(payment={"release_after_s": 2 * 3600})
        self.stopped: dict[str, int] = {}  # transaction id -> times reported stopped
        self.seen = 0
        self.seen_history = 0

    @rule(c=CONNECTORS)
    def plug(self, c: int) -> None:
        if not self.b.sim.vehicles[c].plugged:
            self.b.do("plug", c)

    @rule(c=CONNECTORS)
    def unplug(self, c: int) -> None:
        if self.b.sim.vehicles[c].plugged:
            self.b.do("unplug", c)

    @rule(c=CONNECTORS, right=st.booleans())
    def code(self, c: int, right: bool) -> None:
        self.b.do("code", c, "123456" if right else "999999")

    @rule(
        c=st.sampled_from([0, 1, 2]), rid=st.sampled_from(["R1", "R2"]), minutes=st.integers(-1, 90)
    )
    def reserve(self, c: int, rid: str, minutes: int) -> None:
        self.b.reserve(c, rid=rid, minutes=minutes)

    @rule(rid=st.sampled_from(["R1", "R2"]))
    def cancel(self, rid: str) -> None:
        self.b.command(cmd.CancelReservation(rid))

    @rule(c=CONNECTORS)
    def remote_start(self, c: int) -> None:
        self.b.command(cmd.RemoteStart(c, "app"))

    @rule(c=CONNECTORS)
    def stop(self, c: int) -> None:
        tx = self.b.c(c).transaction
        if tx is not None:
            self.b.command(cmd.RemoteStop(tx.transaction_id))

    @rule(c=CONNECTORS)
    def stop_button(self, c: int) -> None:
        self.b.do("stop_button", c)

    @rule(c=CONNECTORS, exact=st.booleans())
    def pay(self, c: int, exact: bool) -> None:
        tx = self.b.c(c).transaction
        if tx is not None:
            amount = (tx.amount or Decimal(0)) + (0 if exact else Decimal("0.01"))
            self.b.command(cmd.Payment(tx.transaction_id, "paid", amount))

    @rule(c=st.sampled_from([0, 1, 2]), available=st.booleans())
    def availability(self, c: int, available: bool) -> None:
        self.b.command(cmd.SetAvailability(c, available))

    @rule(c=CONNECTORS)
    def technician_unlock(self, c: int) -> None:
        self.b.command(cmd.Unlock(c))

    @rule(on=st.booleans())
    def estop(self, on: bool) -> None:
        self.b.sim.set_estop(on)
        self.b.apply([])

    @rule(on=st.booleans())
    def rcd(self, on: bool) -> None:
        self.b.sim.set_rcd(on)
        self.b.apply([])

    @rule(c=CONNECTORS, on=st.booleans())
    def weld(self, c: int, on: bool) -> None:
        self.b.do("weld", c, on)

    @rule(c=CONNECTORS)
    def fault_clear(self, c: int) -> None:
        self.b.technician_clears(c)

    @rule(c=CONNECTORS, on=st.booleans())
    def jam(self, c: int, on: bool) -> None:
        self.b.do("jam_lock", c, on)

    @rule(c=CONNECTORS, state=st.sampled_from(["B", "C", "E", "F"]))
    def pilot(self, c: int, state: str) -> None:
        """The pilot forced (a short, -12 V, a vehicle that stops or starts asking)."""
        if self.b.sim.vehicles[c].plugged:
            self.b.do("force_pilot", c, CpState(state))

    @rule(c=CONNECTORS, present=st.booleans())
    def diode(self, c: int, present: bool) -> None:
        self.b.do("set_diode", c, present)

    @rule(c=CONNECTORS, amps=st.sampled_from([None, 13, 32]))
    def cable(self, c: int, amps: int | None) -> None:
        self.b.do("set_cable", c, amps)

    @rule(c=st.sampled_from([0, 1, 2]), amps=st.sampled_from([None, 0.0, 4.0, 10.0, 32.0]))
    def limit(self, c: int, amps: float | None) -> None:
        self.b.command(cmd.SetLimit(c, amps))

    @invariant()
    def the_pilot_never_offers_between_0_and_6_amps(self) -> None:
        for c in self.b.pile.connectors.values():
            assert c.pilot_offer is None or c.pilot_offer >= 6

    @rule(c=CONNECTORS, dead=st.booleans())
    def meter(self, c: int, dead: bool) -> None:
        self.b.sim.kill_meter(c, dead)

    @rule(c=CONNECTORS, watts=st.sampled_from([0, 3700, 22000]))
    def ev_power(self, c: int, watts: int) -> None:
        self.b.sim.ev_power(c, watts)

    @rule()
    def crash(self) -> None:
        """The daemon dies and comes back: rebuilt from the journal, on reset outputs."""
        self.b = self.b.restarted()
        self.seen_history = 0

    @rule(seconds=st.sampled_from([-86400, -3600, -2, 2, 3600, 86400]))
    def clock_step(self, seconds: float) -> None:
        """NTP corrects the wall clock; no time passes."""
        self.b.step_clock(seconds)

    @rule(seconds=st.sampled_from([0.1, 1, 7, 60, 400, 3600]))
    def wait(self, seconds: float) -> None:
        self.b.advance(seconds, step=min(seconds, 1.0) if seconds < 60 else 10.0)

    @invariant()
    def relay_never_closed_even_for_an_instant_when_unsafe(self) -> None:
        records = self.b.sim.history.records
        for r in records[self.seen_history :]:
            if r.device.startswith("relay") and r.what == "closed":
                assert r.context == {
                    "lock": True,
                    "plugged": True,
                    "estop": False,
                    "rcd": False,
                    "cp": "C",  # the vehicle asks for power (no connector here ventilates)
                }, r
        self.seen_history = len(records)

    @invariant()
    def the_core_never_asks_the_interlock_for_an_unsafe_close(self) -> None:
        # The interlock beneath would refuse it; the core must not rely on that.
        assert self.b.hardware.refused == []

    @invariant()
    def relay_closed_only_while_safe_to_charge(self) -> None:
        for cid, c in self.b.pile.connectors.items():
            if self.b.sim.relays[cid].closed:
                assert c.state == "charging"
                assert self.b.sim.locks[cid].feedback, "relay closed without the lock locked"
                assert self.b.sim.vehicles[cid].plugged, "relay closed without a vehicle"
                assert not c.faults and not self.b.sim.estop and not self.b.sim.rcd

    @invariant()
    def cable_released_only_where_allowed(self) -> None:
        for p in self.b.published[self.seen :]:
            if p.type == "cable.unlocked":
                c = self.b.c(p.connector or 0)
                assert not self.b.sim.relays[c.id].feedback
            if isinstance(p, TransactionStopped):
                tid = p.transaction_id
                self.stopped[tid] = self.stopped.get(tid, 0) + 1
                assert self.stopped[tid] == 1, "a transaction was reported stopped twice"
                assert p.energy_wh == p.meter_stop_wh - p.meter_start_wh
        self.seen = len(self.b.published)
        for cid, c in self.b.pile.connectors.items():
            if self.b.sim.locks[cid].locked and c.state in RELEASABLE:
                # held in a releasable state only while the relay reports closed (welded)
                assert self.b.sim.relays[cid].feedback

    @invariant()
    def a_started_transaction_is_never_forgotten(self) -> None:
        started = {e["transaction_id"] for e in self.b.events("transaction.started")}
        stopped = {e["transaction_id"] for e in self.b.events("transaction.stopped")}
        current = {
            c.transaction.transaction_id
            for c in self.b.pile.connectors.values()
            if c.transaction is not None
        }
        assert started - stopped <= current, "a billable session was lost"

    @invariant()
    def unpaid_transactions_keep_the_cable(self) -> None:
        for cid, c in self.b.pile.connectors.items():
            tx = c.transaction
            if tx is not None and tx.unpaid:
                assert self.b.sim.locks[cid].locked, "an unpaid cable was released"

    def teardown(self) -> None:
        # Whatever happened, every transaction that started is eventually stopped, once.
        b = self.b
        b.sim.set_estop(False)
        b.sim.set_rcd(False)
        b.command(cmd.SetLimit(0, None))
        for cid in b.pile.connectors:
            b.do("set_diode", cid, True)
            b.command(cmd.SetLimit(cid, None))
            if b.sim.vehicles[cid].plugged:
                b.do("force_pilot", cid, CpState.B)
            b.sim.kill_meter(cid, False)
            b.do("weld", cid, False)
            b.technician_clears(cid)
        b.apply([])
        for cid, c in b.pile.connectors.items():
            if c.transaction is not None and not c.transaction.finished:
                b.do("stop_button", cid)
        b.advance(6)
        started = {e["transaction_id"] for e in b.events("transaction.started")}
        stopped = [e["transaction_id"] for e in b.events("transaction.stopped")]
        assert sorted(stopped) == sorted(started)


TestPileWalk = PileWalk.TestCase
TestPileWalk.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
