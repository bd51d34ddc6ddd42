"""The event-bus interface every implementation follows.

A bus carries call events to the desk's channel.  Publishing never blocks on a
slow subscriber; each message gets an id so a reconnecting console can ask for
what it missed (``subscribe(desk, after=last_id)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol


@dataclass(frozen=True)
class BusMessage:
    """One event on a desk's channel: ``id`` orders messages within the desk.

    ``seq`` counts the desk's messages on this bus without holes (1, 2, 3 ...;
    0 when unknown), so a reader that sees ``seq`` jump knows it missed some.
    """

    id: str
    type: str
    data: dict[str, Any]
    seq: int = 0


class Outgoing(NamedTuple):
    """One event waiting to be published: what ``Bus.publish`` takes, as one value."""

    desk: str
    type: str
    data: dict[str, Any]
    dedupe_key: str | None = None


class Subscription(Protocol):
    """A live feed of one desk's messages."""

    def get(self, timeout: float) -> BusMessage | None:
        """The next message, or None after ``timeout`` seconds with nothing new."""
        ...

    def close(self) -> None:
        """Stop receiving and free resources."""
        ...

    @property
    def resumed(self) -> bool:
        """True when ``subscribe(after=...)`` knew that id and replayed everything after it;
        False when there was no id, or it is unknown here (another process, older than the
        kept history): the subscriber should start again from a snapshot."""
        ...

    @property
    def dropped(self) -> int:
        """Messages this subscriber lost because it read too slowly."""
        ...


class Bus(Protocol):
    """Publish call events to a desk; subscribe to a desk with replay."""

    name: str

    def publish(self, desk: str, type: str, data: dict[str, Any],
                dedupe_key: str | None = None) -> BusMessage:
        """Send one event to everyone watching ``desk``.

        A retried publish passes the same ``dedupe_key``: a bus that may have
        carried the first attempt (a timeout after Redis ran it) sends it once.
        """
        ...

    def publish_many(self, events: Sequence[Outgoing]) -> list[BusMessage]:
        """Publish ``events`` in order, at once where the bus can (one Redis round trip).

        Raises TypeError or ValueError, before sending any, when one cannot be encoded.
        """
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
