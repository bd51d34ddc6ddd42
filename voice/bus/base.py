"""The event-bus interface every implementation follows.

A bus carries call events to the desk's channel.  Publishing never blocks on a
slow subscriber; each message gets an id so a reconnecting console can ask for
what it missed (``subscribe(desk, after=last_id)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class BusMessage:
    """One event on a desk's channel: ``id`` orders messages within the desk."""

    id: str
    type: str
    data: dict[str, Any]


class Subscription(Protocol):
    """A live feed of one desk's messages."""

    def get(self, timeout: float) -> BusMessage | None:
        """The next message, or None after ``timeout`` seconds with nothing new."""
        ...

    def close(self) -> None:
        """Stop receiving and free resources."""
        ...

    resumed: bool
    """True when ``subscribe(after=...)`` knew that id and replayed everything after it;
    False when there was no id, or it is unknown here (another process, older than the
    kept history): the subscriber should start again from a snapshot."""

    @property
    def dropped(self) -> int:
        """Messages this subscriber lost because it read too slowly."""
        ...


class Bus(Protocol):
    """Publish call events to a desk; subscribe to a desk with replay."""

    name: str

    def publish(self, desk: str, type: str, data: dict[str, Any]) -> BusMessage:
        """Send one event to everyone watching ``desk``."""
        ...

    def subscribe(self, desk: str, after: str | None = None) -> Subscription:
        """Watch ``desk``; with ``after``, first replay the kept messages after that id."""
        ...

    def ping(self) -> bool:
        """Whether the bus is reachable."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
