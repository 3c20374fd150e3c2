"""The charging-pile controller: reservations, metering, payment and the backend link."""

__version__ = "0.1.0"
