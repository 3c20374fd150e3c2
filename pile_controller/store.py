"""The SQLite journal: event `seq` and the outbox, handled command ids, the current tariff.

Write ahead, then act: an event is committed here (WAL, synchronous=FULL) before the effect
that follows it is carried out, so a crash can lose a relay command but never a billing fact.
Delivered events are deleted; `seq` itself lives in `meta`, so it never goes back.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pile_controller.core.effects import Publish
from pile_controller.core.times import iso

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS connectors (id INTEGER PRIMARY KEY, snapshot TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS handled (
    n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, reply TEXT NOT NULL);
"""
HANDLED_KEPT = 10_000  # command ids remembered for de-duplication


@dataclass(frozen=True)
class Envelope:
    seq: int
    payload: str  # the JSON text published on P/ID/events


class Store:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- events --------------------------------------------------------------------------------

    def append_events(
        self,
        events: Iterable[Publish],
        reply: tuple[str, str] | None = None,
        connectors: dict[int, dict[str, Any]] | None = None,
    ) -> list[Envelope]:
        """Gives each event the next `seq` and commits them all at once, with the reply to the
        command that caused them (command id, reply text) and the connectors' snapshots: one
        commit, one fsync, and a crash cannot keep one without the others."""
        out: list[Envelope] = []
        with self._transaction():
            for cid, snapshot in (connectors or {}).items():
                self.db.execute(
                    "INSERT OR REPLACE INTO connectors (id, snapshot) VALUES (?, ?)",
                    (cid, json.dumps(snapshot, separators=(",", ":"))),
                )
            if reply is not None:
                self._remember_reply(*reply)  # in the same commit as the events it caused
            seq = int(self.get("seq") or 0)
            for event in events:
                seq += 1
                envelope = {
                    "v": 1,
                    "seq": seq,
                    "id": str(uuid.uuid4()),
                    "type": event.type,
                    "ts": iso(event.at),
                    "connector": event.connector,
                    "data": event.data,
                }
                payload = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
                self.db.execute("INSERT INTO outbox (seq, payload) VALUES (?, ?)", (seq, payload))
                out.append(Envelope(seq, payload))
            if out:
                self._put("seq", str(seq))
        return out

    def connector_snapshots(self) -> dict[int, dict[str, Any]]:
        rows = self.db.execute("SELECT id, snapshot FROM connectors")
        return {cid: json.loads(text) for cid, text in rows}

    def undelivered(self, after: int = 0, limit: int = 500) -> list[Envelope]:
        rows = self.db.execute(
            "SELECT seq, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        )
        return [Envelope(seq, payload) for seq, payload in rows]

    def delivered(self, seq: int) -> None:
        self.db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def outbox_depth(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    # --- commands ------------------------------------------------------------------------------

    def reply_for(self, command_id: str) -> str | None:
        row = self.db.execute("SELECT reply FROM handled WHERE id = ?", (command_id,)).fetchone()
        return row[0] if row else None

    def _remember_reply(self, command_id: str, reply: str) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO handled (id, reply) VALUES (?, ?)", (command_id, reply)
        )
        self.db.execute(
            "DELETE FROM handled WHERE n <= (SELECT max(n) FROM handled) - ?", (HANDLED_KEPT,)
        )

    # --- small facts ---------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, value: str) -> None:
        with self._transaction():
            self._put(key, value)

    def _put(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
