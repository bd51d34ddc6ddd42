"""The Redis bus: events cross instances through Redis pub/sub.

Each message is appended to a capped Redis stream per desk (its id is the
stream entry id, so replay after a reconnect works across instances) and
published on the desk's pub/sub channel, both in one Lua script so channel
order is id order; the same script numbers the desk's messages (``seq``, no
holes, so a reader can tell it missed some) and, for a publish retried after a
timeout, skips one Redis already ran (``dedupe_key``).  A subscriber listens on
the channel first, then replays the stream after ``after`` and skips what it has
already seen, so nothing falls between the two.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import Any

import redis

from voice.bus.base import BusMessage, Outgoing
from voice.bus.memory import MemorySubscription
from voice.metrics import counters

log = logging.getLogger(__name__)

# KEYS: stream, channel, desk sequence, dedupe key (or ""); ARGV: max length, payload,
# dedupe seconds.  Returns {entry id, seq}, or {"", 0} when the dedupe key was seen.
_PUBLISH_SCRIPT = """
if KEYS[4] ~= '' and not redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[3]) then
  return {'', 0}
end
local seq = redis.call('INCR', KEYS[3])
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'payload', ARGV[2],
                      'seq', seq)
redis.call('PUBLISH', KEYS[2], id .. ' ' .. seq .. ' ' .. ARGV[2])
return {id, seq}
"""
DEDUPE_S = 600


def _stream_key(desk: str) -> str:
    return f"voice:desk:{desk}:events"


def _channel(desk: str, db: int = 0) -> str:
    # Pub/sub channels are server-wide, not per database: name the database, so that
    # deployments (or test runs) on other databases of one Redis never hear each other.
    return f"voice:desk:{desk}" if not db else f"voice:db{db}:desk:{desk}"


def _seq_key(desk: str) -> str:
    return f"voice:desk:{desk}:seq"


def _dedupe_key(key: str | None) -> str:
    return f"voice:published:{key}" if key else ""


def _id_key(message_id: str) -> tuple[int, int] | None:
    ms, _, seq = message_id.partition("-")
    if not ms.isdigit() or not (seq or "0").isdigit():
        return None
    return int(ms), int(seq or 0)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


StreamEntry = tuple[bytes, dict[bytes, bytes]]


def _entries(reply: Any) -> list[StreamEntry]:
    """An XRANGE reply as this client gives it (no decode_responses): ``(id, fields)``.

    redis-py types every reply as a union of what any command might answer; this is
    where the shape XRANGE answers is stated once.
    """
    return list(reply or [])


class RedisSubscription(MemorySubscription):
    """A pub/sub listener thread feeding a bounded queue."""

    def __init__(self, bus: RedisBus, desk: str, after: str | None, maxsize: int) -> None:
        super().__init__(bus, desk, maxsize)
        self._pubsub = bus.client.pubsub(
            ignore_subscribe_messages=True)
        self._pubsub.subscribe(_channel(desk, bus.db))
        self._last: tuple[int, int] = (0, 0)
        self._stop = threading.Event()
        start = _id_key(after) if after else None
        if after and start is not None:
            self._replay(bus, desk, after, start)
        self._thread = threading.Thread(target=self._listen, name=f"redis-sub-{desk}", daemon=True)
        self._thread.start()

    def _replay(self, bus: RedisBus, desk: str, after: str, start: tuple[int, int]) -> None:
        try:
            oldest = _entries(bus.client.xrange(_stream_key(desk), count=1))
            self.resumed = bool(oldest) and (_id_key(_text(oldest[0][0])) or (0, 0)) <= start
            self._last = start
            replay = _entries(bus.client.xrange(_stream_key(desk), min=f"({after}"))
            for entry_id, fields in replay:
                seq = int(_text(fields.get(b"seq", b"0")) or 0)
                self._deliver(_text(entry_id), seq, _text(fields[b"payload"]))
        except redis.RedisError as exc:
            self.resumed = False
            log.warning("replay for desk %s after %s failed: %s", desk, after, exc)

    def _deliver(self, message_id: str, seq: int, payload: str) -> None:
        key = _id_key(message_id)
        if key is None or key <= self._last:
            return
        try:
            body = json.loads(payload)
            message = BusMessage(id=message_id, type=body["type"], data=body["data"], seq=seq)
        except (ValueError, KeyError, TypeError) as exc:  # not ours: skip it, keep listening
            counters.incr("bus.bad_messages")
            log.warning("desk %s: skipped a bus message that is not an event (%s)", self.desk,
                        exc.__class__.__name__)
            return
        self._last = key
        self.offer(message)

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
                message_id, _, rest = _text(item["data"]).partition(" ")
                seq, _, payload = rest.partition(" ")
                if not seq.isdigit():  # no sequence number: the rest is the payload
                    seq, payload = "0", rest
                self._deliver(message_id, int(seq), payload)

    def close(self) -> None:
        """Stop the listener, wait for it, then unsubscribe (idempotent)."""
        if self._closed:
            return
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        try:
            self._pubsub.close()
        except redis.RedisError:
            pass
        super().close()


class RedisBus:
    """Desk channels on Redis, shared by every instance of the service."""

    name = "redis"

    def __init__(self, url: str, history: int = 500, subscriber_queue: int = 1000) -> None:
        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.db = int(self.client.connection_pool.connection_kwargs.get("db") or 0)
        self._publish = self.client.register_script(_PUBLISH_SCRIPT)
        self._history = history
        self._subscriber_queue = subscriber_queue
        self._subscriptions: set[RedisSubscription] = set()
        self._lock = threading.Lock()

    def publish(self, desk: str, type: str, data: dict[str, Any],
                dedupe_key: str | None = None) -> BusMessage:
        """Append to the desk's stream and announce on its channel, atomically.

        With ``dedupe_key``, a retry of a publish Redis already ran is not sent
        again (the returned message then has an empty id).
        """
        return self.publish_many([Outgoing(desk, type, data, dedupe_key)])[0]

    def publish_many(self, events: Sequence[Outgoing]) -> list[BusMessage]:
        """Run the publish script once per event, all in one pipelined round trip.

        Every payload is encoded before anything is sent, so an event that cannot be
        encoded raises TypeError/ValueError with none of the batch published.  A
        pipeline that fails part-way is retried whole with the same dedupe keys.
        """
        payloads = [json.dumps({"type": e.type, "data": e.data}) for e in events]
        try:
            replies = self._run_publish_script(events, payloads)
        except redis.exceptions.NoScriptError:  # Redis restarted or its script cache flushed
            self._publish.sha = self.client.script_load(_PUBLISH_SCRIPT)
            replies = self._run_publish_script(events, payloads)
        return [BusMessage(id=_text(entry_id), type=event.type, data=event.data, seq=int(seq))
                for event, (entry_id, seq) in zip(events, replies, strict=True)]

    def _run_publish_script(self, events: Sequence[Outgoing], payloads: list[str]) -> list[Any]:
        # EVALSHA straight on the pipeline: a Script given a pipeline checks SCRIPT EXISTS
        # first, a second round trip on every batch.
        with self.client.pipeline(transaction=False) as pipe:
            for event, payload in zip(events, payloads, strict=True):
                pipe.evalsha(self._publish.sha, 4, _stream_key(event.desk),
                             _channel(event.desk, self.db), _seq_key(event.desk),
                             _dedupe_key(event.dedupe_key), self._history, payload, DEDUPE_S)
            return list(pipe.execute())

    def subscribe(self, desk: str, after: str | None = None) -> RedisSubscription:
        """Watch ``desk`` across instances, replaying after ``after``."""
        subscription = RedisSubscription(self, desk, after, self._subscriber_queue)
        with self._lock:
            self._subscriptions.add(subscription)
        return subscription

    def _unsubscribe(self, subscription: MemorySubscription) -> None:
        """Forget a closed subscription."""
        with self._lock:
            self._subscriptions.discard(subscription)

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
