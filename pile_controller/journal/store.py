"""The SQLite journal: event `seq` and the outbox, handled command ids, the current tariff.

Write ahead, then act: an event is committed here before the effect that follows it is carried
out, so a crash can lose a relay command but never a billing fact. A commit reaches the OS at once
(it survives the daemon crashing) and the disk at the next `sync()` (it survives a power cut): the
journal runs with `synchronous=NORMAL` so that the daemon, not SQLite, chooses when to wait for the
disk (`Flusher`), and no event leaves before its commit is on disk (`durable_seq`).

An SD card wears by the bytes written, and SQLite writes whole pages, so every commit is kept to
the pages it must change: pages of `PAGE_SIZE`, a connector's snapshot only when it changed,
delivered events deleted in batches (`FORGET_BATCH`, or once `FORGET_AFTER_S` has passed), and
`seq` written to `meta` only with a batch's deletion (until then the outbox's newest row holds
it), so it never goes back.

Folding the WAL back into the database (a checkpoint) also waits for the disk, so SQLite's own,
which runs inside whichever commit crosses its threshold, is turned off: `sync()` folds it
instead, on the flush thread, every `FOLD_AFTER` commits. The one connection is shared with that
thread under a lock (a commit waits for a fold in progress, once in `FOLD_AFTER`), because it
holds the journal in exclusive locking mode: the WAL's index then lives in the process's memory,
not in a `-shm` file whose pages would be written back to the card after every commit, and no
second process can open the journal while the daemon runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pile_controller.backend.wire import event_data
from pile_controller.core.published import Published
from pile_controller.core.times import iso

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS connectors (id INTEGER PRIMARY KEY, snapshot TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS handled (
    n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, reply TEXT NOT NULL);
"""
HANDLED_KEPT = 10_000  # command ids remembered for de-duplication
FOLD_AFTER = 200  # commits between checkpoints: a WAL of a few hundred pages at most
PAGE_SIZE = 1024  # a meter sample's commit changes two pages: of 1 KiB, not SQLite's 4 KiB
# Delivered events leave the journal this many at a time, or this long after the first of them
# was acknowledged: one commit per batch rather than one per acknowledgement. A crash before
# then sends them again (at least once; the backend de-duplicates by seq).
FORGET_BATCH = 100
FORGET_AFTER_S = 300.0


@dataclass(frozen=True)
class Envelope:
    seq: int
    payload: str  # the JSON text published on P/ID/events


class JournalError(Exception):
    """The journal cannot be opened: one line for the technician, naming the file."""


class Store:
    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic):
        self.clock = clock  # for FORGET_AFTER_S
        self._lock = threading.Lock()  # the loop's use of the connection, and the fold's
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA locking_mode=EXCLUSIVE")  # no -shm file (see above)
            self._use_small_pages()
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA wal_autocheckpoint=0")  # sync() folds it, off the loop
            self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            # A damaged journal is never replaced by a fresh one: that would reuse event seq
            # numbers, and the backend would drop the new events as duplicates of the old.
            damaged = not isinstance(exc, sqlite3.OperationalError)
            advice = " (restore it from a backup)" if damaged else ""
            raise JournalError(f"journal {path}: {exc}{advice}") from None
        # SQLite keeps the -wal file (same inode) while a connection is open; flushing it puts
        # every commit so far on disk, as synchronous=FULL would at each commit.
        self._wal = os.open(f"{path}-wal", os.O_RDWR | os.O_CREAT, 0o600)
        newest = self.db.execute("SELECT max(seq) FROM outbox").fetchone()[0] or 0
        self.seq = max(int(self.get("seq") or 0), newest)  # the last event committed
        self.durable_seq = 0  # the last event on disk: only those may be sent
        self.commits = 0  # counted on the loop, read by `sync()`
        self._delivered: set[int] = set()  # acknowledged, not yet deleted
        self._delivered_since: float | None = None  # when the first of them was acknowledged
        rows = self.db.execute("SELECT id, snapshot FROM connectors")
        self._snapshots = dict(rows.fetchall())  # as last written: only a changed one is again
        self._folded_at = 0
        self.sync()  # a crash may have left commits in the OS's cache only

    def _use_small_pages(self) -> None:
        """A new journal gets `PAGE_SIZE` pages; one from before is rewritten with them once
        (VACUUM, atomic: a crash meanwhile leaves the old file as it was)."""
        if self.db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE:
            return
        old = self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if old:
            self.db.execute("PRAGMA journal_mode=DELETE")  # a WAL journal keeps its page size
        self.db.execute(f"PRAGMA page_size={PAGE_SIZE}")
        if old:
            self.db.execute("VACUUM")

    def sync(self) -> None:
        """Puts every commit so far on disk. It blocks for the disk's flush, so the daemon calls
        it off its loop; `seq` is read first, as everything up to it was written already."""
        seq, commits = self.seq, self.commits
        os.fdatasync(self._wal)
        self.durable_seq = seq
        if commits - self._folded_at >= FOLD_AFTER:
            with self._lock:
                self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._folded_at = commits

    def abandon(self) -> None:
        """Lets go of the journal as it stands on disk, writing nothing more (after a failed
        write: what the disk has is what the next start rebuilds from)."""
        os.close(self._wal)
        self.db.close()

    def close(self) -> None:
        self.forget_delivered(every=True)
        self.sync()
        os.close(self._wal)
        self.db.close()

    # --- events --------------------------------------------------------------------------------

    def append_events(
        self,
        events: Iterable[Published],
        reply: tuple[str, str] | None = None,
        connectors: dict[int, dict[str, Any]] | None = None,
        facts: dict[str, str] | None = None,
    ) -> list[Envelope]:
        """Gives each event the next `seq` and commits them all at once, with the reply to the
        command that caused them (command id, reply text), the connectors' snapshots and the
        pile's small facts (the tariff): one commit, and a crash cannot keep one without the
        others."""
        out: list[Envelope] = []
        with self._transaction():
            for key, value in (facts or {}).items():
                self._put(key, value)
            changed = {
                cid: text
                for cid, snapshot in (connectors or {}).items()
                if (text := json.dumps(snapshot, separators=(",", ":"))) != self._snapshots.get(cid)
            }
            for cid, text in changed.items():
                self.db.execute(
                    "INSERT OR REPLACE INTO connectors (id, snapshot) VALUES (?, ?)", (cid, text)
                )
            if reply is not None:
                self._remember_reply(*reply)  # in the same commit as the events it caused
            seq = self.seq
            for event in events:
                seq += 1
                envelope = {
                    "v": 1,
                    "seq": seq,
                    "id": str(uuid.uuid4()),
                    "type": event.type,
                    "ts": iso(event.at),
                    "connector": event.connector,
                    "data": event_data(event),
                }
                payload = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
                self.db.execute("INSERT INTO outbox (seq, payload) VALUES (?, ?)", (seq, payload))
                out.append(Envelope(seq, payload))
            # The outbox's newest row holds `seq` until a batch is deleted.
            gone = self._delete_delivered(seq) if self._batch_due() else set()
        self.seq = seq
        self._snapshots.update(changed)
        self._forgotten(gone)
        return out

    def connector_snapshots(self) -> dict[int, dict[str, Any]]:
        with self._lock:
            rows = self.db.execute("SELECT id, snapshot FROM connectors").fetchall()
        return {cid: json.loads(text) for cid, text in rows}

    def undelivered(self, after: int = 0, limit: int = 500) -> list[Envelope]:
        """Events not yet acknowledged by the broker, oldest first, as far as they are on disk:
        a `seq` sent before then could be lost in a power cut and reused for another event."""
        # Delivered rows not yet deleted lie at or below what was handed over last: skipped
        # only when the read starts below them (after a reconnect or a restart).
        skip = self._delivered if self._delivered and max(self._delivered) > after else ()
        with self._lock:
            rows = self.db.execute(
                "SELECT seq, payload FROM outbox WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (after, self.durable_seq, limit + len(skip)),
            ).fetchall()
        return [Envelope(q, p) for q, p in rows if q not in skip][:limit]

    def delivered(self, seq: int) -> None:
        """The broker has the event. It leaves the journal with a batch (`FORGET_BATCH`):
        not worth a commit of its own, let alone a flush. Lost in a crash, it only means the
        event is sent again (at least once; the backend de-duplicates by seq)."""
        if not self._delivered:
            self._delivered_since = self.clock()
        self._delivered.add(seq)

    def forget_delivered(self, every: bool = False) -> None:
        """Deletes the delivered events once a batch is due (the daemon asks on its tick), or
        `every` one now."""
        if self._delivered and (every or self._batch_due()):
            with self._transaction():
                gone = self._delete_delivered(self.seq)
            self._forgotten(gone)

    def _batch_due(self) -> bool:
        since = self._delivered_since
        return len(self._delivered) >= FORGET_BATCH or (
            since is not None and self.clock() - since >= FORGET_AFTER_S
        )

    def _delete_delivered(self, seq: int) -> set[int]:
        gone = set(self._delivered)
        self.db.executemany("DELETE FROM outbox WHERE seq = ?", [(q,) for q in gone])
        self._put("seq", str(seq))  # the rows that held it may be gone now
        return gone

    def _forgotten(self, gone: set[int]) -> None:
        self._delivered -= gone
        if not self._delivered:
            self._delivered_since = None

    def last_events(self, n: int) -> list[str]:
        """The newest `n` events still in the journal (delivered ones leave in batches), oldest
        first, for a diagnostics archive."""
        with self._lock:
            rows = self.db.execute(
                "SELECT payload FROM outbox ORDER BY seq DESC LIMIT ?", (n,)
            ).fetchall()
        return [payload for (payload,) in reversed(rows)]

    def outbox_depth(self) -> int:
        with self._lock:
            total = int(self.db.execute("SELECT count(*) FROM outbox").fetchone()[0])
        return total - len(self._delivered)

    # --- commands ------------------------------------------------------------------------------

    def reply_for(self, command_id: str) -> str | None:
        with self._lock:
            row = self.db.execute(
                "SELECT reply FROM handled WHERE id = ?", (command_id,)
            ).fetchone()
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
        with self._lock:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, facts: dict[str, str]) -> None:
        """Small facts, committed together."""
        with self._transaction():
            for key, value in facts.items():
                self._put(key, value)

    def _put(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        self.commits += 1
