"""Every test, and every process a test starts, runs the connector's table strictly: a trigger
with no row in the current state raises (`core/states.py`) instead of being noted and dropped."""

import os

os.environ["PILE_CONTROLLER_STRICT"] = "1"

import pytest  # noqa: E402

# The longest tests (a minute or so each) go first, one to a worker, so that none of them
# starts last and keeps the suite running alone at the end (scripts/test prints the slowest).
LONGEST = (
    "test_kill_9_at_random_instants",
    "test_hostile_payloads_get_one_invalid_reply_each",
    "test_a_broker_outage_with_a_daemon_restart_inside",
    "TestPileWalk",
    "test_install_twice",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not any(name in item.nodeid for name in LONGEST))
