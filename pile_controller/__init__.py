"""The charging-pile controller: reservations, metering, payment and the backend link."""

__version__ = "0.1.0"

# Before any module of the pile makes its dataclasses: their methods' compiled code is kept
# per release (fastclasses.py), a third of a boot's imports.
from pile_controller import fastclasses as _fastclasses  # noqa: E402

_fastclasses.install()
