"""The pure logic of the pile: no I/O, no threads, no clock of its own.

Inputs are frozen event dataclasses and command dataclasses, each handled with an explicit `now`;
outputs are frozen effect dataclasses the daemon carries out (see `effects.py`).
"""
