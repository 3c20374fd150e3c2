"""The daemon's own files damaged or in the way: one line naming the file, exit 1, no traceback,
and nothing replaced behind the technician's back (a fresh journal would reuse event seq numbers;
a fresh key would sign receipts the backend cannot verify)."""

from pathlib import Path

import pytest

from rig.pile import PileProcess, pile_controller


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda state: (state / "journal.sqlite").write_text("not a database, just text " * 9),
            "journal.sqlite: file is not a database (restore it from a backup)",
        ),
        (
            lambda state: (state / "journal.sqlite").mkdir(),
            "journal.sqlite: unable to open database file",
        ),
        (
            lambda state: (state / "pile.key").write_bytes(b"garbage"),
            "pile.key: not a raw 32-byte Ed25519 private key",
        ),
    ],
    ids=["journal-damaged", "journal-in-the-way", "key-damaged"],
)
def test_a_damaged_state_file_is_one_line_naming_it(
    tmp_path: Path, damage: object, expected: str
) -> None:
    pile = PileProcess(tmp_path, broker_port=1)
    pile.state.mkdir(parents=True)
    damage(pile.state)  # type: ignore[operator]
    damaged = next(pile.state.iterdir())
    before = damaged.read_bytes() if damaged.is_file() else None
    run = pile_controller("--config", str(pile.config))
    assert run.returncode == 1
    [line] = run.stderr.splitlines()
    assert line.startswith("pile-controller: ") and expected in line, line
    assert "Traceback" not in run.stderr
    assert (damaged.read_bytes() if damaged.is_file() else None) == before  # left as it was
