"""The journal: seq never goes back or skips, delivered events leave, replies are remembered."""

from datetime import UTC, datetime
from pathlib import Path

from pile_controller.core.published import FaultRaised
from pile_controller.store import FOLD_AFTER, Store

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
    assert Path(f"{path}-wal").stat().st_size < 4 * FOLD_AFTER * 5 * 4096
    store.close()


def test_a_delivered_event_leaves_with_the_next_commit_not_one_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    store = Store(path)
    store.append_events(events(3))
    store.sync()
    commits = store.commits
    store.delivered(1)
    assert store.commits == commits  # an ack costs no commit
    assert [e.seq for e in store.undelivered()] == [2, 3] and store.outbox_depth() == 2
    assert on_disk(path) == [1, 2, 3]  # a crash now: it is sent again
    store.append_events(events(1))
    assert on_disk(path) == [2, 3, 4]
    store.delivered(2)
    store.forget_delivered()  # the daemon's tick, when nothing else commits
    assert on_disk(path) == [3, 4]


def on_disk(path: Path) -> list[int]:
    """The seqs a daemon starting now would send again."""
    store = Store(path)
    seqs = [e.seq for e in store.undelivered()]
    store.close()
    return seqs
