"""`pilectl selftest` and `pilectl relay-test N` against the daemon on the simulated pile
(CONTRACT 9.4); the Raspberry Pi backend's are in test_rpi.py."""

from typing import Any

from rig.pile import pilectl


def test_selftest_moves_only_free_connectors_and_names_what_is_wrong(rig: Any) -> None:
    pile, socket = rig.pile, str(rig.pile.socket)
    pile.sim("plug", 2)
    pile.sim("lock-jam", 1, "on")
    done = pilectl("--socket", socket, "selftest")
    lines = done.stdout.splitlines()
    assert done.returncode == 1
    assert lines[0].startswith("relay 1: ok (closed in ")
    assert lines[1] == "lock 1: FAILED (the feedback did not show locked within 1000 ms)"
    assert lines[2:4] == ["pilot 1: ok (+12 V (state A))", lines[3]]
    assert lines[3].startswith("meter 1: ok (") and " Wh, read " in lines[3]
    assert lines[4:7] == [
        "relay 2: ok (skipped: a vehicle is connected)",
        "lock 2: ok (skipped: a vehicle is connected)",
        "pilot 2: ok (skipped: a vehicle is connected (state B))",
    ]
    assert lines[8].startswith("broker: ok (connected to 127.0.0.1:")
    assert lines[9:] == ["display: ok (none configured)", lines[10]]
    assert lines[10].startswith("disk: ok (") and " MB free in " in lines[10]
    assert pile.status()["connectors"][0]["fault"] is None, "a failed check latches nothing"


def test_relay_test_is_refused_in_one_line_while_a_fault_is_active(rig: Any) -> None:
    pile, socket = rig.pile, str(rig.pile.socket)
    pile.sim("weld", 1, "on")
    pile.sim("clock", "+1")
    rig.backend.event("fault.raised", code="RelayWelded")
    done = pilectl("--socket", socket, "relay-test", "1")
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        "pilectl: relay test refused: fault RelayWelded is active\n",
    )
    done = pilectl("--socket", socket, "relay-test", "7")
    assert (done.returncode, done.stderr) == (1, "pilectl: relay test: no connector 7\n")
