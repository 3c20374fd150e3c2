"""The messages a CSMS set with `SetDisplayMessage` (CONTRACT 11), kept in the journal so that
`GetDisplayMessages` reads back what was set, across restarts. One of `format` `URI` tied to a
transaction is that transaction's payment QR code; a message of a transaction goes when the
transaction is settled."""

from __future__ import annotations

import json
from typing import Any

from pile_controller.backend.ocpp.v201.device_model import DISPLAY_MESSAGES_MAX

JOURNAL_KEY = "ocpp201.display_messages"


class DisplayMessages:
    def __init__(self, saved: str | None):
        self.messages: dict[int, dict[str, Any]] = {
            int(k): m for k, m in json.loads(saved or "{}").items()
        }

    def saved(self) -> str:
        return json.dumps(self.messages, sort_keys=True)

    def set(self, message: dict[str, Any]) -> bool:
        """False when the pile holds as many as it can (the same id replaces its message)."""
        if message["id"] not in self.messages and len(self.messages) >= DISPLAY_MESSAGES_MAX:
            return False
        self.messages[message["id"]] = message
        return True

    def clear(self, mid: int) -> bool:
        return self.messages.pop(mid, None) is not None

    def matching(
        self, ids: list[int] | None, priority: str | None, state: str | None
    ) -> list[dict[str, Any]]:
        return [
            m
            for mid, m in sorted(self.messages.items())
            if (not ids or mid in ids)
            and priority in (None, m["priority"])
            and state in (None, m.get("state"))
        ]

    def payment_uri(self, transaction_id: str) -> str | None:
        """The URI the CSMS gave as transaction `transaction_id`'s payment QR code."""
        for m in sorted(self.messages.values(), key=lambda m: m["id"]):
            if m.get("transactionId") == transaction_id and m["message"]["format"] == "URI":
                return str(m["message"]["content"])
        return None

    def forget_transaction(self, transaction_id: str) -> bool:
        """The transaction is settled: its messages go. True if any did."""
        kept = {k: m for k, m in self.messages.items() if m.get("transactionId") != transaction_id}
        gone = len(kept) != len(self.messages)
        self.messages = kept
        return gone
