"""The in-process bus: one process, no dependencies, the default.

Message ids are ``<epoch>-<n>``: the epoch is new for every process, so a
browser that reconnects after a restart presents an id this bus does not know
and is told (``resumed`` False) to start again from a snapshot.
"""

from __future__ import annotations

import itertools
import queue
import threading
import uuid
from collections import deque
from collections.abc import Sequence
from typing import Any

from voice.bus.base import BusMessage, Outgoing
from voice.metrics import counters


class MemorySubscription:
    """A bounded per-subscriber queue; the oldest message goes when it is full."""

    def __init__(self, bus: Any, desk: str, maxsize: int) -> None:
        self._bus = bus
        self.desk = desk
        self.resumed = False
        self._queue: queue.Queue[BusMessage] = queue.Queue(maxsize=maxsize)
        self._dropped = 0
        self._closed = False

    def offer(self, message: BusMessage) -> None:
        """Deliver without blocking; drop the oldest message when full."""
        while True:
            try:
                self._queue.put_nowait(message)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self._dropped += 1
                    counters.incr("bus.dropped_for_slow_subscriber")
                except queue.Empty:
                    pass

    def get(self, timeout: float) -> BusMessage | None:
        """The next message or None after ``timeout``."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    @property
    def dropped(self) -> int:
        """Messages lost to a slow reader."""
        return self._dropped

    def close(self) -> None:
        """Unsubscribe (safe to call more than once)."""
        if self._closed:
            return
        self._closed = True
        self._bus._unsubscribe(self)


class MemoryBus:
    """Fan-out within one process, keeping the last ``history`` messages per desk."""

    name = "memory"

    def __init__(self, history: int = 500, subscriber_queue: int = 1000) -> None:
        self._lock = threading.Lock()
        self._epoch = uuid.uuid4().hex[:8]
        self._ids = itertools.count(1)
        self._seq: dict[str, int] = {}
        self._history: dict[str, deque[tuple[int, BusMessage]]] = {}
        self._trimmed_upto: dict[str, int] = {}
        self._subscribers: dict[str, list[MemorySubscription]] = {}
        self._history_size = history
        self._subscriber_queue = subscriber_queue

    def publish(self, desk: str, type: str, data: dict[str, Any],
                dedupe_key: str | None = None) -> BusMessage:
        """Send to every subscriber of ``desk`` (in id order) and keep it for replay.

        In-process publishing cannot half-fail, so ``dedupe_key`` is not needed here.
        """
        with self._lock:
            number = next(self._ids)
            seq = self._seq[desk] = self._seq.get(desk, 0) + 1
            message = BusMessage(id=f"{self._epoch}-{number}", type=type, data=data, seq=seq)
            kept = self._history.setdefault(desk, deque(maxlen=self._history_size))
            if len(kept) == kept.maxlen:
                self._trimmed_upto[desk] = kept[0][0]
            kept.append((number, message))
            for subscriber in self._subscribers.get(desk, ()):
                subscriber.offer(message)  # never blocks, so holding the lock keeps order
        return message

    def publish_many(self, events: Sequence[Outgoing]) -> list[BusMessage]:
        """Publish each in order (in-process there is no round trip to save)."""
        return [self.publish(e.desk, e.type, e.data) for e in events]

    def _number(self, message_id: str | None) -> int | None:
        if not message_id:
            return None
        epoch, _, number = message_id.partition("-")
        if epoch != self._epoch or not number.isdigit():
            return None
        return int(number)

    def subscribe(self, desk: str, after: str | None = None) -> MemorySubscription:
        """Watch ``desk``, replaying kept messages newer than ``after`` when it is known."""
        subscription = MemorySubscription(self, desk, self._subscriber_queue)
        with self._lock:
            last = self._number(after)
            if last is not None and last >= self._trimmed_upto.get(desk, 0):
                subscription.resumed = True
                for number, message in self._history.get(desk, ()):
                    if number > last:
                        subscription.offer(message)
            self._subscribers.setdefault(desk, []).append(subscription)
        return subscription

    def _unsubscribe(self, subscription: MemorySubscription) -> None:
        with self._lock:
            subscribers = self._subscribers.get(subscription.desk, [])
            if subscription in subscribers:
                subscribers.remove(subscription)

    def subscriber_count(self, desk: str) -> int:
        """How many subscribers watch ``desk``."""
        with self._lock:
            return len(self._subscribers.get(desk, ()))

    def ping(self) -> bool:
        """Always reachable."""
        return True

    def close(self) -> None:
        """Nothing to release."""
