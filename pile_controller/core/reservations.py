"""Reservations and the appointment-code gate with its lockout."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum


@dataclass(frozen=True)
class Reservation:
    reservation_id: str
    code: str
    id_token: str
    expires_at: datetime


class Verdict(Enum):
    MATCH = "Match"
    WRONG_CODE = "WrongCode"
    LOCKED_OUT = "LockedOut"


@dataclass
class CodeGate:
    """Counts wrong codes on one connector; after `max_attempts` it refuses codes for a while.

    Codes are compared in constant time so the keypad's response time leaks nothing about how
    many leading digits were right.
    """

    max_attempts: int
    lockout: timedelta
    wrong: int = 0
    locked_until: datetime | None = None

    def attempts_left(self, now: datetime) -> int:
        self._expire(now)
        return 0 if self.locked_until else self.max_attempts - self.wrong

    def check(self, entered: str, reservation: Reservation, now: datetime) -> Verdict:
        self._expire(now)
        if self.locked_until is not None:
            return Verdict.LOCKED_OUT
        if hmac.compare_digest(entered.encode(), reservation.code.encode()):
            self.wrong = 0
            return Verdict.MATCH
        self.wrong += 1
        if self.wrong >= self.max_attempts:
            self.locked_until = now + self.lockout
        return Verdict.WRONG_CODE

    def reset(self) -> None:
        self.wrong, self.locked_until = 0, None

    def _expire(self, now: datetime) -> None:
        if self.locked_until is not None and now >= self.locked_until:
            self.reset()
