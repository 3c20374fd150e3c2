"""OCPP smart charging (1.6 SmartCharging profile, CONTRACT 10): the installed charging
profiles and the current limit they give a connector at an instant. `ChargePointMaxProfile` on
connector 0 is the site's limit, `TxProfile` (for the running transaction) and
`TxDefaultProfile` a connector's; among the profiles in force the highest `stackLevel` wins, and
a period takes effect at its start. The link turns a changed limit into the same core command as
MQTT's `limit` (`SetLimit`), so the pilot follows exactly as it does there."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pile_controller.core.times import iso, parse_iso

VOLTS_PER_PHASE = 230.0  # a `W` schedule on a pile whose meter has not said otherwise
JOURNAL_KEY = "ocpp.charging_profiles"
MAX_INSTALLED = 16


@dataclass(frozen=True)
class Running:
    """A connector's running transaction, as a profile sees it."""

    started_at: datetime
    transaction_id: int | str | None  # the CSMS's id (1.6, once known; 2.0.1: the pile's)


class Profiles:
    def __init__(self, saved: str | None):
        # (connectorId, csChargingProfiles) as the CSMS sent them
        self.installed: list[tuple[int, dict[str, Any]]] = [
            (int(cid), p) for cid, p in json.loads(saved or "[]")
        ]

    def saved(self) -> str:
        return json.dumps(self.installed, sort_keys=True)

    def install(self, connector: int, profile: dict[str, Any]) -> bool:
        """False if the profile cannot be kept (too many, a TxProfile without a transaction is
        the caller's to refuse)."""
        pid = profile["chargingProfileId"]
        kept = [
            (c, p)
            for c, p in self.installed
            if p["chargingProfileId"] != pid
            and not (
                c == connector
                and p["stackLevel"] == profile["stackLevel"]
                and p["chargingProfilePurpose"] == profile["chargingProfilePurpose"]
            )
        ]
        if len(kept) >= MAX_INSTALLED:
            return False
        self.installed = [*kept, (connector, profile)]
        return True

    def clear(
        self,
        pid: int | None,
        connector: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> bool:
        def matches(c: int, p: dict[str, Any]) -> bool:
            if pid is not None:
                return bool(p["chargingProfileId"] == pid)
            return (
                (connector is None or c == connector)
                and (purpose is None or p["chargingProfilePurpose"] == purpose)
                and (stack_level is None or p["stackLevel"] == stack_level)
            )

        kept = [(c, p) for c, p in self.installed if not matches(c, p)]
        removed = len(kept) != len(self.installed)
        self.installed = kept
        return removed

    def end_transaction(self, connector: int) -> bool:
        """A TxProfile lives as long as its transaction; True if one ended."""
        kept = [
            (c, p)
            for c, p in self.installed
            if not (c == connector and p["chargingProfilePurpose"] == "TxProfile")
        ]
        ended, self.installed = len(kept) != len(self.installed), kept
        return ended

    def limit(self, connector: int, now: datetime, running: Running | None) -> float | None:
        """Amps for `connector` (0: the site) at `now`; None: no profile limits it."""
        if connector == 0:
            return self._highest(self._of(0, "ChargePointMaxProfile"), now, running)
        if running is not None:
            tx = [
                p
                for p in self._of(connector, "TxProfile")
                if p.get("transactionId") in (None, running.transaction_id)
            ]
            amps = self._highest(tx, now, running)
            if amps is not None:
                return amps
        own = self._of(connector, "TxDefaultProfile")
        amps = self._highest(own, now, running)
        return (
            amps
            if amps is not None
            else self._highest(self._of(0, "TxDefaultProfile"), now, running)
        )

    def composite(
        self, connector: int, now: datetime, duration_s: int, running: Running | None
    ) -> list[tuple[int, float]]:
        """(seconds from now, amps) where the limit changes within `duration_s`."""
        instants = {0}
        for _, p in self.installed:
            start = _start(p["chargingSchedule"], p, now, running)
            if start is None:
                continue
            schedule = p["chargingSchedule"]
            offsets = [int(period["startPeriod"]) for period in schedule["chargingSchedulePeriod"]]
            if "duration" in schedule:
                offsets.append(int(schedule["duration"]))  # where it ends
            for offset in offsets:
                at = int((start - now).total_seconds()) + offset
                if 0 < at < duration_s:
                    instants.add(at)
        periods: list[tuple[int, float]] = []
        for at in sorted(instants):
            amps = self.limit(connector, now + timedelta(seconds=at), running)
            if amps is None:
                continue
            if not periods or periods[-1][1] != amps:
                periods.append((at, amps))
        return periods

    def _of(self, connector: int, purpose: str) -> list[dict[str, Any]]:
        return [
            p
            for c, p in self.installed
            if c == connector and p["chargingProfilePurpose"] == purpose
        ]

    def _highest(
        self, profiles: list[dict[str, Any]], now: datetime, running: Running | None
    ) -> float | None:
        for p in sorted(profiles, key=lambda p: -int(p["stackLevel"])):
            amps = _amps_at(p, now, running)
            if amps is not None:
                return amps
        return None


def _start(
    schedule: dict[str, Any], p: dict[str, Any], now: datetime, running: Running | None
) -> datetime | None:
    kind = p["chargingProfileKind"]
    if kind == "Relative":
        return running.started_at if running else None
    first = parse_iso(schedule["startSchedule"]) if "startSchedule" in schedule else None
    if kind == "Recurring" and first is not None:
        every = timedelta(days=7 if p.get("recurrencyKind") == "Weekly" else 1)
        if now >= first:
            return first + every * ((now - first) // every)
    return first or now


def _amps_at(p: dict[str, Any], now: datetime, running: Running | None) -> float | None:
    if "validFrom" in p and now < parse_iso(p["validFrom"]):
        return None
    if "validTo" in p and now >= parse_iso(p["validTo"]):
        return None
    schedule = p["chargingSchedule"]
    start = _start(schedule, p, now, running)
    if start is None or now < start:
        return None
    elapsed = (now - start).total_seconds()
    if "duration" in schedule and elapsed >= schedule["duration"]:
        return None
    period = None
    for candidate in schedule["chargingSchedulePeriod"]:
        if candidate["startPeriod"] <= elapsed:
            period = candidate
    if period is None:
        return None
    limit = float(period["limit"])
    if schedule["chargingRateUnit"] == "W":
        limit /= VOLTS_PER_PHASE * int(period.get("numberPhases", 3))
    return round(limit, 1)


def schedule_payload(
    periods: list[tuple[int, float]], now: datetime, duration_s: int
) -> dict[str, Any]:
    return {
        "duration": duration_s,
        "startSchedule": iso(now),
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": at, "limit": amps} for at, amps in periods],
    }
