"""The topic tree of CONTRACT §3: `P/ID/...`."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str
    pile_id: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.pile_id}"

    @property
    def online(self) -> str:
        return f"{self.base}/online"

    @property
    def events(self) -> str:
        return f"{self.base}/events"

    @property
    def replies(self) -> str:
        return f"{self.base}/replies"

    @property
    def commands(self) -> str:
        return f"{self.base}/cmd/+"

    def status(self, connector: int) -> str:
        return f"{self.base}/connectors/{connector}/status"

    def command_name(self, topic: str) -> str | None:
        head = f"{self.base}/cmd/"
        return topic[len(head) :] if topic.startswith(head) else None
