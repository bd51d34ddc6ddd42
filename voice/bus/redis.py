"""The Redis bus: events cross instances through Redis pub/sub.

Each message is appended to a capped Redis stream per desk (its id is the
stream entry id, so replay after a reconnect works across instances) and
published on the desk's pub/sub channel for live delivery.  A subscriber
listens on the channel first, then replays the stream after ``after`` and
skips duplicates, so nothing falls between the two.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import redis

from voice.bus.base import BusMessage
from voice.bus.memory import MemorySubscription
from voice.metrics import counters

log = logging.getLogger(__name__)


def _stream_key(desk: str) -> str:
    return f"voice:desk:{desk}:events"


def _channel(desk: str) -> str:
    return f"voice:desk:{desk}"


def _id_key(message_id: str) -> tuple[int, int]:
    ms, _, seq = message_id.partition("-")
    return int(ms), int(seq or 0)


class RedisSubscription(MemorySubscription):
    """A pub/sub listener thread feeding a bounded queue."""

    def __init__(self, bus: RedisBus, desk: str, after: str | None, maxsize: int) -> None:
        super().__init__(bus, desk, maxsize)  # type: ignore[arg-type]
        self._pubsub = bus.client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(_channel(desk))
        self._last: tuple[int, int] = (0, 0)
        self._stop = threading.Event()
        if after is not None:
            self._replay(bus, desk, after)
        self._thread = threading.Thread(target=self._listen, name=f"redis-sub-{desk}", daemon=True)
        self._thread.start()

    def _replay(self, bus: RedisBus, desk: str, after: str) -> None:
        try:
            start = f"({after}" if "-" in after else "-"
            for entry_id, fields in bus.client.xrange(_stream_key(desk), min=start):
                self._deliver(entry_id, fields[b"payload"])
        except (redis.RedisError, ValueError) as exc:
            log.warning("replay for desk %s after %s failed: %s", desk, after, exc)

    def _deliver(self, message_id: str | bytes, payload: str | bytes) -> None:
        if isinstance(message_id, bytes):
            message_id = message_id.decode()
        key = _id_key(message_id)
        if key <= self._last:
            return
        self._last = key
        body = json.loads(payload)
        self.offer(BusMessage(id=message_id, type=body["type"], data=body["data"]))

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._pubsub.get_message(timeout=0.5)
            except (redis.RedisError, ValueError) as exc:
                if self._stop.is_set():
                    return
                counters.incr("bus.redis_errors")
                log.warning("redis subscription for desk %s failed: %s", self.desk, exc)
                self._stop.wait(1.0)
                continue
            if item and item.get("type") == "message":
                envelope = json.loads(item["data"])
                self._deliver(envelope["id"], envelope["payload"])

    def close(self) -> None:
        """Stop the listener, wait for it, then unsubscribe."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        try:
            self._pubsub.close()
        except redis.RedisError:
            pass
        self._bus._unsubscribe(self)


class RedisBus:
    """Desk channels on Redis, shared by every instance of the service."""

    name = "redis"

    def __init__(self, url: str, history: int = 500, subscriber_queue: int = 1000) -> None:
        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._history = history
        self._subscriber_queue = subscriber_queue
        self._subscriptions: set[RedisSubscription] = set()
        self._lock = threading.Lock()

    def publish(self, desk: str, type: str, data: dict[str, Any]) -> BusMessage:
        """Append to the desk's stream and announce on its channel."""
        payload = json.dumps({"type": type, "data": data})
        entry_id = self.client.xadd(
            _stream_key(desk), {"payload": payload}, maxlen=self._history, approximate=True
        )
        message_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        self.client.publish(_channel(desk), json.dumps({"id": message_id, "payload": payload}))
        return BusMessage(id=message_id, type=type, data=data)

    def subscribe(self, desk: str, after: str | None = None) -> RedisSubscription:
        """Watch ``desk`` across instances, replaying after ``after``."""
        subscription = RedisSubscription(self, desk, after, self._subscriber_queue)
        with self._lock:
            self._subscriptions.add(subscription)
        return subscription

    def _unsubscribe(self, subscription: MemorySubscription) -> None:
        """Forget a closed subscription."""
        with self._lock:
            self._subscriptions.discard(subscription)  # type: ignore[arg-type]

    def ping(self) -> bool:
        """Whether Redis answers."""
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        """Stop every subscription, then close the connection pool."""
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.close()
        self.client.close()
