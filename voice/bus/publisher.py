"""Publishing off the call's thread: a bounded buffer drained by one thread, with retries.

The stages run on each call's transcription thread; a slow or unreachable bus
(Redis stalled or down) must not hold that thread, or audio would back up.
Events are published in the order they were queued, everything waiting at once
(up to ``BATCH_MAX`` per ``Bus.publish_many``: one Redis round trip for a burst such as
an utterance's transcript, frustration and prompt).  When publishing fails the
events stay at the head of the buffer and are retried (backing off up to 2 s)
with the same dedupe keys, so a stall loses nothing and a timed-out publish that
Redis did run is not sent twice.  Only when the buffer is full
(``VOICE_BUS_BUFFER_EVENTS``) is the oldest waiting event dropped, and counted
(``bus.publish_dropped``); the records keep everything, and a console that sees
the desk's sequence jump takes a snapshot.
Transcript text is redacted (card numbers, SSNs) before it is queued, so it never
reaches Redis.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from typing import Any

from voice.bus.base import Bus, Outgoing
from voice.metrics import counters
from voice.records.redact import Redactor, redact_payload

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.1
RETRY_MAX_S = 2.0
BATCH_MAX = 64


class QueuedPublisher:
    """Non-blocking ``publish`` in front of a bus; keeps events through a bus outage."""

    def __init__(self, bus: Bus, maxsize: int = 10_000, redactor: Redactor | None = None) -> None:
        self.bus = bus
        self.redactor = redactor or Redactor()
        self._queue: deque[Outgoing] = deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._last_error_log = 0.0
        self._failing_since: float | None = None
        self._thread = threading.Thread(target=self._run, name="bus-publisher", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        """Events buffered, not yet on the bus."""
        with self._cond:
            return len(self._queue)

    def publish(self, desk: str, type: str, data: dict[str, Any]) -> None:
        """Queue one event for the desk (transcripts redacted first); never blocks."""
        data = redact_payload(self.redactor, type, data)
        with self._cond:
            if len(self._queue) >= self._maxsize:
                self._queue.popleft()
                counters.incr("bus.publish_dropped")
            self._queue.append(Outgoing(desk, type, data, uuid.uuid4().hex))
            self._cond.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued has been handed to the bus."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Publish what is queued (within ``timeout``) and stop."""
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        backoff = RETRY_FIRST_S
        one_at_a_time = False  # after a batch held an event that cannot be encoded
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue or (self._closed and self._failing_since is not None):
                    return
                size = 1 if one_at_a_time else min(len(self._queue), BATCH_MAX)
                batch = [self._queue[i] for i in range(size)]
                self._busy = True
            try:
                self.bus.publish_many(batch)
            except (TypeError, ValueError) as exc:
                if len(batch) > 1:  # find it: the head alone next, then batches again
                    one_at_a_time = True
                    with self._cond:
                        self._busy = False
                    continue
                counters.incr("bus.publish_unsendable")  # it can never be sent: skip it
                log.error("bus %s: %s for desk %s cannot be sent (%s); skipped",
                          self.bus.name, batch[0].type, batch[0].desk, exc)
            except Exception as exc:
                self._failed(batch[0].type, batch[0].desk, exc)
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait(backoff)  # close() wakes it
                backoff = min(backoff * 2, RETRY_MAX_S)
                continue
            one_at_a_time = False
            backoff = RETRY_FIRST_S
            sent = {event.dedupe_key for event in batch}
            with self._cond:
                # a full buffer may have dropped some of the batch from the head meanwhile
                while self._queue and self._queue[0].dedupe_key in sent:
                    self._queue.popleft()
                self._busy = False
                self._cond.notify_all()
            if self._failing_since is not None:
                log.warning("bus %s: publishing again after %.1f s; %d event(s) still buffered",
                            self.bus.name, time.monotonic() - self._failing_since, self.waiting)
                self._failing_since = None

    def _failed(self, type: str, desk: str, exc: Exception) -> None:
        counters.incr("bus.publish_errors")
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        if now - self._last_error_log > 10:
            self._last_error_log = now
            log.error("bus %s: could not publish %s for desk %s (%s); keeping it and %d "
                      "more to retry", self.bus.name, type, desk, exc, self.waiting - 1)
