"""The backend link: one interface (`link.py`), one folder per implementation (`mqtt/`, and
OCPP's beside it), and what they share: the core's facts as JSON (`wire.py`), the TLS setup
(`tls.py`)."""
