"""The journal: seq never goes back or skips, delivered events leave, replies are remembered."""

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pile_controller.core.published import FaultRaised
from pile_controller.journal.store import (
    FOLD_AFTER,
    FORGET_AFTER_S,
    FORGET_BATCH,
    PAGE_SIZE,
    JournalError,
    Store,
)

AT = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def events(n: int) -> list[FaultRaised]:
    return [FaultRaised(1, AT, "X", str(i)) for i in range(n)]


def test_seq_starts_at_one_and_survives_reopening(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.sqlite")
    assert [e.seq for e in store.append_events(events(3))] == [1, 2, 3]
    for seq in (1, 2, 3):
        store.delivered(seq)
    store.close()
    store = Store(tmp_path / "j.sqlite")
    assert [e.seq for e in store.append_events(events(2))] == [4, 5]


def test_undelivered_events_come_back_in_seq_order_after_reopening(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.sqlite")
    store.append_events(events(5))
    store.delivered(2)
    store.close()
    store = Store(tmp_path / "j.sqlite")
    assert [e.seq for e in store.undelivered()] == [1, 3, 4, 5]
    assert [e.seq for e in store.undelivered(after=3)] == [4, 5]
    assert store.outbox_depth() == 4


def test_the_first_reply_to_a_command_id_is_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.sqlite")
    store.append_events([], reply=("c1", "first"))
    store.append_events([], reply=("c1", "second"))
    assert store.reply_for("c1") == "first"
    assert store.reply_for("c2") is None


def test_a_reply_and_its_events_are_committed_together(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.sqlite")
    [envelope] = store.append_events(events(1), reply=("c9", '{"status":"Accepted"}'))
    store.close()
    store = Store(tmp_path / "j.sqlite")
    assert store.reply_for("c9") == '{"status":"Accepted"}'
    assert [e.seq for e in store.undelivered()] == [envelope.seq]


def test_a_commit_never_folds_the_wal_and_a_sync_does(tmp_path: Path) -> None:
    # Folding (a checkpoint) flushes the database file: it belongs with the flush, off the
    # loop, not inside whichever commit crosses SQLite's own threshold.
    path = tmp_path / "j.sqlite"
    store = Store(path)
    empty = path.stat().st_size
    for i in range(3 * FOLD_AFTER):
        store.append_events(events(1), reply=(f"c{i}", "x" * 200))
    assert path.stat().st_size == empty  # every page is still in the WAL only
    store.sync()
    assert path.stat().st_size > empty
    store.close()


def test_the_wal_stays_small_when_synced_as_the_daemon_does(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    store = Store(path)
    for i in range(20 * FOLD_AFTER):
        [envelope] = store.append_events(events(1), reply=(f"c{i}", "x" * 200))
        store.delivered(envelope.seq)
        store.sync()
    # A few commits' pages per fold, and SQLite writes the WAL afresh from its start after one.
    assert Path(f"{path}-wal").stat().st_size < 4 * FOLD_AFTER * 5 * PAGE_SIZE
    store.close()


def test_delivered_events_leave_in_batches_not_a_commit_each(tmp_path: Path) -> None:
    path, now = tmp_path / "j.sqlite", [0.0]
    store = Store(path, clock=lambda: now[0])
    sent = store.append_events(events(FORGET_BATCH + 1))
    store.sync()
    commits = store.commits
    for envelope in sent[:-2]:
        store.delivered(envelope.seq)
    store.forget_delivered()  # the daemon's tick
    assert store.commits == commits, "an ack costs no commit until a batch is due"
    assert store.outbox_depth() == 2 and [e.seq for e in store.undelivered()] == [100, 101]
    assert len(on_disk(path)) == FORGET_BATCH + 1  # a crash now: they are sent again
    store.delivered(sent[-2].seq)
    store.forget_delivered()
    assert store.commits == commits + 1 and on_disk(path) == [101]
    store.delivered(sent[-1].seq)
    now[0] += FORGET_AFTER_S
    store.append_events(events(1))  # a batch due by age leaves with the next commit
    assert on_disk(path) == [102]


def test_seq_never_goes_back_whichever_row_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    store = Store(path)
    store.append_events(events(3))
    assert after_a_crash(path).seq == 3, "a crash before any deletion: the outbox holds it"
    for seq in (1, 2, 3):
        store.delivered(seq)
    store.forget_delivered(every=True)
    assert after_a_crash(path).seq == 3, "every row gone: meta holds it"


def test_a_snapshot_is_written_only_when_it_changed(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.sqlite")
    store.append_events(events(1), connectors={1: {"a": 1}, 2: {"b": 2}})
    before = store.db.total_changes
    store.append_events(events(1), connectors={1: {"a": 1}, 2: {"b": 3}})
    assert store.db.total_changes - before == 2  # the event and connector 2's snapshot
    assert after_a_crash(tmp_path / "j.sqlite").connector_snapshots() == {1: {"a": 1}, 2: {"b": 3}}


def test_an_old_journal_is_moved_to_small_pages_keeping_everything(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "j.sqlite"
    store = Store(path)
    store.append_events(events(2), reply=("c1", "r"))
    store.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("PRAGMA page_size=4096")
    db.execute("VACUUM")
    db.execute("PRAGMA journal_mode=WAL")  # as the journals before were
    assert db.execute("PRAGMA page_size").fetchone()[0] == 4096
    db.close()
    store = Store(path)
    assert store.db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE
    assert [e.seq for e in store.undelivered()] == [1, 2] and store.reply_for("c1") == "r"


def after_a_crash(path: Path) -> Store:
    """The journal as a daemon killed now would find it: its files as they stand, opened
    afresh (the running one holds it exclusively)."""
    crashed = path.parent / f"crash{len(list(path.parent.glob('crash*')))}"
    crashed.mkdir()
    for name in (path.name, f"{path.name}-wal"):
        if (path.parent / name).exists():
            shutil.copy(path.parent / name, crashed / name)
    return Store(crashed / path.name)


def on_disk(path: Path) -> list[int]:
    """The seqs a daemon starting now would send again."""
    store = after_a_crash(path)
    seqs = [e.seq for e in store.undelivered()]
    store.close()
    return seqs


def test_a_second_daemon_cannot_open_the_journal_of_a_running_one(tmp_path: Path) -> None:
    running = Store(tmp_path / "j.sqlite")  # held: a store nobody holds closes when collected
    with pytest.raises(JournalError, match=r"j.sqlite: database is locked"):
        Store(tmp_path / "j.sqlite")
    running.close()


def test_no_shared_memory_file_is_written_beside_the_journal(tmp_path: Path) -> None:
    store = Store(tmp_path / "j.sqlite")
    store.append_events(events(3))
    store.sync()
    assert not (tmp_path / "j.sqlite-shm").exists()
