"""Carries out the core's device effects in the order safety and write-ahead ask for
(ARCHITECTURE principles 5 and 6).

Opening a relay depends on nothing: it is done the moment the core decides it, before the step
is committed to the journal, let alone flushed to disk. What depends on the journal waits for
the commit to reach the disk (`Flusher`): closing a relay, moving the cable lock. A close still
waiting when an opening of the same relay comes is dropped, so power never comes on late (an
e-stop, an unplug or a stop that came in while the commit was on its way to disk).
"""

from __future__ import annotations

from collections.abc import Callable

from hal.interfaces import Hardware
from pile_controller.core import effects as fx
from pile_controller.core import events as ev
from pile_controller.service.hardware import actuate

Openings = dict[int, int]  # connector -> relay openings so far


class Actuator:
    def __init__(self, hardware: Hardware, report: Callable[[ev.Event], None]):
        self.hardware = hardware
        self._report = report  # tells the core a command reached its device (`Actuated`)
        self._openings: Openings = dict.fromkeys(hardware.connectors, 0)

    def open_now(self, effects: list[fx.Effect]) -> list[fx.Effect]:
        """Opens every relay `effects` asks to open, now; returns the effects left to do."""
        rest: list[fx.Effect] = []
        for effect in effects:
            if isinstance(effect, fx.OpenRelay):
                self.open(effect.connector)
                self._report(ev.Actuated(effect.connector, "relay"))
            else:
                rest.append(effect)
        return rest

    def open(self, cid: int) -> None:
        self.hardware.connectors[cid].relay.open()
        self._openings[cid] += 1

    def open_every_relay(self) -> None:
        for cid in self.hardware.connectors:
            self.open(cid)

    def openings(self) -> Openings:
        """Taken when effects are queued; `carry_out` compares it with the openings since."""
        return dict(self._openings)

    def _opened_since(self, cid: int, queued_at: Openings) -> bool:
        return self._openings[cid] != queued_at[cid]

    def carry_out(self, effects: list[fx.Effect], queued_at: Openings) -> list[fx.Effect]:
        """Carries out the relay closes and lock moves of `effects` (queued when the openings
        were `queued_at`), dropping a close its relay was opened after; returns the others."""
        rest: list[fx.Effect] = []
        for effect in effects:
            if isinstance(effect, fx.CloseRelay) and self._opened_since(
                effect.connector, queued_at
            ):
                continue  # power never comes on late
            if done := actuate(self.hardware, effect):
                self._report(done)
            else:
                rest.append(effect)
        return rest
