"""The journal: the SQLite store (seq, outbox, replies, snapshots), putting it on
disk off the loop, and the periodic samples held for the next commit."""
