"""A publisher for API tests that keeps what it was handed, decoded on demand."""

from __future__ import annotations

from typing import Any

from protocol.codec import decode_down


class Recorder:
    """Keeps every (topic, payload) the API published."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes) -> None:
        self.sent.append((topic, payload))

    def members(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """(kind, items) of every members change published, oldest first."""
        decoded = [decode_down(payload) for _, payload in self.sent]
        return [(d.kind, d.items) for d in decoded if d.stream == "members"]
