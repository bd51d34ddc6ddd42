"""Process-wide counters: bad frames, dropped audio, reconnects …

A tiny thread-safe registry; ``/healthz`` reports a snapshot.  Counters are the
operator's view of trouble that was handled without failing a call.
"""

from __future__ import annotations

import threading
from collections import Counter


class Counters:
    """Named integer counters safe to bump from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Counter[str] = Counter()

    def incr(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name``."""
        with self._lock:
            self._values[name] += amount

    def get(self, name: str) -> int:
        """Current value of ``name`` (0 when never bumped)."""
        with self._lock:
            return self._values[name]

    def snapshot(self) -> dict[str, int]:
        """A copy of every counter."""
        with self._lock:
            return dict(self._values)

    def reset(self) -> None:
        """Forget every counter (tests)."""
        with self._lock:
            self._values.clear()


counters = Counters()
