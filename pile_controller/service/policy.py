"""The daemon's timing policy, named in one place: how often it looks, how long it waits."""

from datetime import timedelta

# Timers (feedback, expiry, staleness) are checked this often while a relay's or a lock's
# feedback is awaited (its deadline is a fraction of a second), and at IDLE_TICK_S otherwise:
# ten wakeups a second were most of an idle pile's CPU.
TICK_S = 0.1
IDLE_TICK_S = 0.5
METER_POLL_S = 1.0  # every meter is read this often
# A round of meter reads that has not ended for this long is hung (each read times out within
# seconds): systemd's watchdog is no longer pinged, and it restarts the daemon.
METER_ROUND_HUNG_S = 60.0
SCREEN_REFRESH_S = 1.0  # countdowns and the charging screen change every second
FIRST_SCREEN_S = 2.0  # the first pictures wait at most this long for the backend's link
# How long a Python thread may hold the interpreter while another waits for it (Python's own
# default: 5 ms). An input's callback thread (the e-stop's) waits at most about this long for
# the interpreter before it can open a relay, however busy the loop or another thread is.
SWITCH_INTERVAL_S = 0.00005
# At an orderly stop, how long the sessions' stop readings may take (a Modbus meter may need a
# second or two); what is still open then is finished from the journal at the next start.
STOP_READINGS_WAIT_S = 3.0
LAST_WORDS_S = 0.1  # and how long the link gets to send the last events
# `pilectl selftest` fails the disk below this much free space in state_dir: a charging hour
# journals well under a megabyte, so this is weeks of sessions with the backend away.
MIN_FREE_BYTES = 64 * 1024 * 1024
# Periodic meter samples wait in memory for the next commit, at most this long or this many:
# a commit and a flush each would be most of what the pile writes to its SD card.
SAMPLES_HELD = timedelta(seconds=60)
SAMPLES_HELD_MAX = 64
