"""How many ``/events`` streams one login may hold at once (``VOICE_EVENTS_PER_LOGIN``).

Every SSE stream holds a thread of the stream pool for as long as it is open,
so one login (a receptionist's cookie, or a script that stole it) must not be
able to open them without limit.  The quota is per process: a login spread over
several instances holds at most the cap on each.  One quota per app
(``app.extensions["voice.event_streams"]``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable


class StreamQuota:
    """Counts open streams per login; ``acquire`` refuses past the cap."""

    def __init__(self) -> None:
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def acquire(self, login: str, cap: int) -> Callable[[], None] | None:
        """A release function for one more stream of ``login``, or None when at the cap.

        The release function may be called any number of times; it counts once.
        """
        with self._lock:
            if self._open[login] >= cap:
                return None
            self._open[login] += 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if released.is_set():
                    return
                released.set()
                self._open[login] -= 1
                if self._open[login] <= 0:
                    del self._open[login]

        return release

    def open_streams(self, login: str) -> int:
        """Streams ``login`` holds now."""
        with self._lock:
            return self._open[login]

