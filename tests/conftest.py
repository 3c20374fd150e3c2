"""Every test, and every process a test starts, runs the connector's table strictly: a trigger
with no row in the current state raises (`core/states.py`) instead of being noted and dropped."""

import os

os.environ["PILE_CONTROLLER_STRICT"] = "1"
