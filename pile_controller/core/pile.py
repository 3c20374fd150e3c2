"""The pile: its connectors, and the commands that concern more than one of them.

Connector 0 in `reserve` means "any free connector"; in `availability` it means all of them;
in `limit`, the whole site. A reservation id or a transaction id is looked up across connectors
here, and the site's current is shared between them after every step (`core/sharing.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pile_controller.core import commands as cmd
from pile_controller.core import events as ev
from pile_controller.core import published as pub
from pile_controller.core.connector import Connector, Context
from pile_controller.core.effects import (
    Effect,
    InstallUpdate,
    Publish,
    PublishOnline,
    PublishStatus,
    Redraw,
    SaveTariff,
    UploadDiagnostics,
)
from pile_controller.core.reservations import Reservation
from pile_controller.core.sharing import share
from pile_controller.core.states import OUT_OF_SERVICE, State
from pile_controller.core.tariff import Tariff

# Drivers are told the pile is offline only once the backend has been out of reach this long:
# a broker restart or the reconnect after boot is not worth a screen of its own.
OFFLINE_AFTER = timedelta(seconds=30)
SESSION = frozenset({State.AUTHENTICATING, State.CHARGING, State.AWAITING_PAYMENT})


class Pile:
    def __init__(self, connector_ids: Iterable[int], context: Context, now: datetime):
        self.ctx = context
        self.connectors = {cid: Connector(cid, context, now) for cid in sorted(connector_ids)}
        self.site_limit: float | None = None  # the backend's `limit` for connector 0
        self.offline_since: datetime | None = now  # boot counts: the link is not up yet
        self._effects: list[Effect] = []  # effects of the pile as a whole
        self.uploading = False  # diagnostics are being gathered or uploaded
        self.updating = False  # an update is under way (until it switches, or fails)

    def handle(self, event: ev.Event, now: datetime) -> list[Effect]:
        match event:
            case ev.LinkUp():
                self.offline_since = None
            case ev.LinkDown():
                self.offline_since = self.offline_since or now
            case ev.ClockStepped(delta=delta) if self.offline_since is not None:
                self.offline_since += delta  # a duration: the step is not time offline
            case ev.DiagnosticsProgress(status=status, url=url, reason=reason):
                self.uploading = status == "Uploading"
                said = pub.DiagnosticsStatus(None, now, status, url, reason)
                return [Publish(said)]
            case ev.FirmwareProgress(status=status, version=version, reason=reason):
                self.updating = not event.over
                return [Publish(pub.FirmwareStatus(None, now, status, version, reason))]
        if isinstance(event, ev.PileEvent):
            targets = list(self.connectors.values())
        else:
            target = self.connectors.get(event.connector)
            targets = [target] if target else []
        for connector in targets:
            connector.handle(event, now)
        return self._drain()

    def online(self, now: datetime) -> bool:
        """Whether drivers may be offered what needs the backend (a start QR code): it is up,
        or went away less than OFFLINE_AFTER ago."""
        return self.offline_since is None or now - self.offline_since < OFFLINE_AFTER

    def command(self, command: cmd.Command, now: datetime) -> tuple[cmd.Reply, list[Effect]]:
        reply = self._execute(command, now)
        return reply, self._drain()

    def snapshots(self) -> dict[int, dict[str, Any]]:
        """Every connector's, and under 0 the pile's own (the backend's site limit)."""
        pile = {0: {"site_limit": self.site_limit}}
        return pile | {cid: c.snapshot() for cid, c in self.connectors.items()}

    def restore(
        self, snapshots: dict[int, dict[str, Any]], tariff: dict[str, Any] | None, now: datetime
    ) -> list[Effect]:
        """Rebuilds every connector the journal knows after a restart (see Connector.restore).
        The tariff the backend last set, if the journal has one, comes before the config's."""
        if tariff is not None:
            self.ctx.tariff = Tariff.from_json(tariff)
        for cid, snapshot in snapshots.items():
            if cid == 0:
                self.site_limit = snapshot.get("site_limit")
            elif cid in self.connectors:
                self.connectors[cid].restore(snapshot, now)
        return self._drain()

    def site_max_current_a(self) -> float | None:
        """The backend's limit for the site if it gave one, else the config's."""
        config = self.ctx.settings.pile.max_current_a
        return self.site_limit if self.site_limit is not None else config

    def shut_down(self, now: datetime, reason: str = "Reboot") -> list[Effect]:
        """The daemon is stopping: running transactions stop (reason Reboot) and are billed."""
        for connector in self.connectors.values():
            connector.stop(reason, now)
        return self._drain()

    def clear_faults(self, cid: int, now: datetime) -> tuple[cmd.Reply, list[Effect]]:
        """A technician's `fault clear N` (the control socket, not the backend)."""
        connector = self.connectors.get(cid)
        reply = connector.clear_faults(now) if connector else cmd.rejected("no such connector")
        return reply, self._drain()

    def begin_test(self, cid: int, now: datetime) -> cmd.Reply:
        """A technician's relay or lock test on `cid` (the control socket): refused, with the
        reason, unless the connector is free of vehicles, sessions and faults."""
        connector = self.connectors.get(cid)
        return connector.begin_test(now) if connector else cmd.rejected("no such connector")

    def end_test(self, cid: int, now: datetime) -> list[Effect]:
        self.connectors[cid].end_test(now)
        return self._drain()

    def awaits_feedback(self) -> bool:
        """Whether a relay or a lock has yet to report where it was told to go: its deadline
        runs, and the daemon ticks faster meanwhile."""
        return any(c.awaits_feedback() for c in self.connectors.values())

    def in_session(self) -> bool:
        """Whether a driver's session runs anywhere, from the code typed to the payment: an
        update waits for none (CONTRACT 12)."""
        return any(c.state in SESSION for c in self.connectors.values())

    def sessions_closing(self) -> bool:
        """Whether a stopped session still waits for its stop reading (at shutdown)."""
        return any(
            c.transaction is not None and not c.transaction.finished
            for c in self.connectors.values()
        )

    def _drain(self) -> list[Effect]:
        self._share()
        effects, self._effects = self._effects, []
        return effects + [e for c in self.connectors.values() for e in c.drain()]

    def _share(self) -> None:
        claims = [claim for c in self.connectors.values() if (claim := c.claim()) is not None]
        offers = share(self.site_max_current_a(), claims)
        for cid, connector in self.connectors.items():
            connector.offer = offers.get(cid, 0.0)

    def _execute(self, command: cmd.Command, now: datetime) -> cmd.Reply:
        match command:
            case cmd.Reserve():
                return self._reserve(command, now)
            case cmd.CancelReservation(reservation_id=rid):
                holder = self._holding_reservation(rid)
                if holder is None:
                    return cmd.rejected("UnknownReservation")
                holder.end_reservation("Cancelled", now)
                return cmd.ACCEPTED
            case cmd.RemoteStart(connector=0):
                return self._remote_start_anywhere(command, now)
            case cmd.RemoteStart(connector=cid):
                connector = self.connectors.get(cid)
                return (
                    connector.remote_start(command, now)
                    if connector
                    else cmd.rejected("UnknownConnector")
                )
            case cmd.RemoteStop(transaction_id=tid, reason=reason):
                connector = self._with_transaction(tid)
                return (
                    connector.remote_stop(reason, now)
                    if connector
                    else cmd.rejected("UnknownTransaction")
                )
            case cmd.Payment(transaction_id=tid):
                connector = self._with_transaction(tid)
                return (
                    connector.payment(command, now)
                    if connector
                    else cmd.rejected("UnknownTransaction")
                )
            case cmd.SetTariff(tariff=tariff):
                self.ctx.tariff = tariff  # running transactions keep the tariff they began with
                self._effects.append(SaveTariff(tariff))
                return cmd.ACCEPTED
            case cmd.SetAvailability(connector=cid, available=available):
                return self._set_availability(cid, available, now)
            case cmd.Unlock(connector=cid, how=how):
                connector = self.connectors.get(cid)
                return (
                    connector.technician_unlock(now, how)
                    if connector
                    else cmd.rejected("UnknownConnector")
                )
            case cmd.SetLimit(connector=cid, max_current_a=amps):
                if cid == 0:
                    self.site_limit = amps
                elif cid in self.connectors:
                    self.connectors[cid].backend_limit = amps
                else:
                    return cmd.rejected("UnknownConnector")
                return cmd.ACCEPTED
            case cmd.ShowPrice():
                return self._show_price(command)
            case cmd.Diagnostics(url=url, name=name):
                if self.uploading:
                    return cmd.rejected("Busy")
                self.uploading = True
                self._effects.append(UploadDiagnostics(url, name))
                return cmd.ACCEPTED
            case cmd.Update():
                if self.updating:
                    return cmd.rejected("Busy")
                self.updating = True
                self._effects.append(InstallUpdate(command))
                return cmd.ACCEPTED
            case cmd.Trigger(what=what):
                self._trigger(what, now)
                return cmd.ACCEPTED
        return cmd.rejected("UnknownCommand")

    def _reserve(self, reserve: cmd.Reserve, now: datetime) -> cmd.Reply:
        if reserve.expires_at <= now:
            return cmd.rejected("AlreadyExpired")
        holder = self._holding_reservation(reserve.reservation_id)
        if reserve.connector == 0:
            target = holder or next(
                (c for c in self.connectors.values() if c.state is State.IDLE), None
            )
            if target is None:
                return self._none_free()
        elif reserve.connector in self.connectors:
            target = self.connectors[reserve.connector]
        else:
            return cmd.rejected("UnknownConnector")
        refusal = target.reservation_reply(reserve.reservation_id)
        if refusal is not None:
            return refusal
        if holder is not None and holder is not target:
            holder.end_reservation("Replaced", now)
        target.take_reservation(
            Reservation(reserve.reservation_id, reserve.code, reserve.id_token, reserve.expires_at),
            now,
        )
        return cmd.ACCEPTED

    def _remote_start_anywhere(self, start: cmd.RemoteStart, now: datetime) -> cmd.Reply:
        """A start for no connector in particular (OCPP's RemoteStartTransaction without a
        connectorId): the first that takes it, a vehicle already plugged in first."""
        for connector in sorted(self.connectors.values(), key=lambda c: not c.plugged):
            if connector.remote_start(start, now) == cmd.ACCEPTED:
                return cmd.ACCEPTED
        return self._none_free()

    def _none_free(self) -> cmd.Reply:
        states = {c.state for c in self.connectors.values()}
        if states == {State.FAULTED}:
            return cmd.Reply(cmd.ReplyStatus.FAULTED)
        if states <= OUT_OF_SERVICE:
            return cmd.Reply(cmd.ReplyStatus.UNAVAILABLE)
        return cmd.Reply(cmd.ReplyStatus.OCCUPIED)

    def _set_availability(self, cid: int, available: bool, now: datetime) -> cmd.Reply:
        if cid != 0 and cid not in self.connectors:
            return cmd.rejected("UnknownConnector")
        targets = self.connectors.values() if cid == 0 else [self.connectors[cid]]
        replies = [c.set_available(available, now) for c in targets]
        scheduled = any(r.status is cmd.ReplyStatus.SCHEDULED for r in replies)
        return cmd.Reply(cmd.ReplyStatus.SCHEDULED) if scheduled else cmd.ACCEPTED

    def _show_price(self, show: cmd.ShowPrice) -> cmd.Reply:
        for c in self.connectors.values():
            tx = c.transaction
            if tx is None or tx.finished:
                continue
            if tx.transaction_id == show.transaction_id or (
                show.transaction_id is None and tx.id_token == show.id_token
            ):
                tx.shown_cost = show.cost if show.cost is not None else tx.shown_cost
                tx.price_text = show.text or tx.price_text
                c.emit(Redraw(c.id))
                return cmd.ACCEPTED
        return cmd.rejected("UnknownTransaction")

    def _trigger(self, what: str, now: datetime) -> None:
        if what == "online":
            self._effects.append(PublishOnline())
        for connector in self.connectors.values():
            if what == "status":
                self._effects.append(PublishStatus(connector.id))
            elif what == "meter":
                connector.meter_values("Sample.Periodic", now)

    def _holding_reservation(self, reservation_id: str) -> Connector | None:
        return next(
            (
                c
                for c in self.connectors.values()
                if c.reservation is not None and c.reservation.reservation_id == reservation_id
            ),
            None,
        )

    def _with_transaction(self, transaction_id: str) -> Connector | None:
        return next(
            (
                c
                for c in self.connectors.values()
                if c.transaction is not None and c.transaction.transaction_id == transaction_id
            ),
            None,
        )
