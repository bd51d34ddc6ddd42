"""Publishing off the call's thread: a bounded queue drained by one thread.

The stages run on each call's transcription thread; a slow or unreachable bus
(Redis timing out) must not hold that thread, or audio would back up.  Events
are published in the order they were queued; when the queue is full the oldest
waiting event is dropped and counted (the records keep everything, and a
console that missed events gets a snapshot when it reconnects).  Transcript
text is redacted (card numbers, SSNs) before it is queued, so it never reaches Redis.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from voice.bus.base import Bus
from voice.metrics import counters
from voice.records.redact import Redactor, redact_payload

log = logging.getLogger(__name__)


class QueuedPublisher:
    """Non-blocking ``publish`` in front of a bus."""

    def __init__(self, bus: Bus, maxsize: int = 10_000, redactor: Redactor | None = None) -> None:
        self.bus = bus
        self.redactor = redactor or Redactor()
        self._queue: deque[tuple[str, str, dict[str, Any]]] = deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._last_error_log = 0.0
        self._thread = threading.Thread(target=self._run, name="bus-publisher", daemon=True)
        self._thread.start()

    def publish(self, desk: str, type: str, data: dict[str, Any]) -> None:
        """Queue one event for the desk (transcripts redacted first); never blocks."""
        data = redact_payload(self.redactor, type, data)
        with self._cond:
            if len(self._queue) >= self._maxsize:
                self._queue.popleft()
                counters.incr("bus.publish_dropped")
            self._queue.append((desk, type, data))
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
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                desk, type, data = self._queue.popleft()
                self._busy = True
            try:
                self.bus.publish(desk, type, data)
            except Exception as exc:
                counters.incr("bus.publish_errors")
                now = time.monotonic()
                if now - self._last_error_log > 10:
                    self._last_error_log = now
                    log.error("bus %s: could not publish %s for desk %s: %s",
                              self.bus.name, type, desk, exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
