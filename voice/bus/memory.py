"""The in-process bus: one process, no dependencies, the default."""

from __future__ import annotations

import itertools
import queue
import threading
from collections import deque
from typing import Any

from voice.bus.base import BusMessage
from voice.metrics import counters


class MemorySubscription:
    """A bounded per-subscriber queue; the oldest message goes when it is full."""

    def __init__(self, bus: MemoryBus, desk: str, maxsize: int) -> None:
        self._bus = bus
        self.desk = desk
        self._queue: queue.Queue[BusMessage] = queue.Queue(maxsize=maxsize)
        self._dropped = 0

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
        """Unsubscribe."""
        self._bus._unsubscribe(self)


class MemoryBus:
    """Fan-out within one process, keeping the last ``history`` messages per desk."""

    name = "memory"

    def __init__(self, history: int = 500, subscriber_queue: int = 1000) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._history: dict[str, deque[BusMessage]] = {}
        self._subscribers: dict[str, list[MemorySubscription]] = {}
        self._history_size = history
        self._subscriber_queue = subscriber_queue

    def publish(self, desk: str, type: str, data: dict[str, Any]) -> BusMessage:
        """Send to every subscriber of ``desk`` and keep it for replay."""
        with self._lock:
            message = BusMessage(id=str(next(self._ids)), type=type, data=data)
            self._history.setdefault(desk, deque(maxlen=self._history_size)).append(message)
            subscribers = list(self._subscribers.get(desk, ()))
        for subscriber in subscribers:
            subscriber.offer(message)
        return message

    def subscribe(self, desk: str, after: str | None = None) -> MemorySubscription:
        """Watch ``desk``, replaying kept messages newer than ``after``."""
        subscription = MemorySubscription(self, desk, self._subscriber_queue)
        with self._lock:
            if after is not None:
                try:
                    last = int(after)
                except ValueError:
                    last = 0
                for message in self._history.get(desk, ()):
                    if int(message.id) > last:
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
