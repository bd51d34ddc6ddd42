"""Auditing live views: which logins a console showed which live calls.

A console stream shows the live transcript of every call on its desk.  Showing a
call to a login is audited as one viewing (``view_live``): recorded when a stream
first shows the call, and not again while that login's latest ``view_live`` row
for the call is younger than ``VOICE_LIVE_VIEW_WINDOW_S`` (10 minutes by
default).  So a reconnect, a reload or a second tab within the window adds no
row however often it happens, while another login, another call, or the same
login coming back after the window is a viewing of its own.  The window is
read from the audit log itself, so it holds across instances and restarts; a
per-process cache (``MAX_VIEWS`` most recent login/call pairs) spares the
database the lookup.  Two instances deciding at the same moment may each write
a row: at most one extra row per instance and window.
One registry per app (``app.extensions["voice.live_views"]``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

MAX_VIEWS = 5000


def utcnow() -> datetime:
    """Timezone-aware now in UTC (the clock the window is measured on)."""
    return datetime.now(UTC)


def _aware(at: datetime) -> datetime:
    """SQLite gives back naive UTC datetimes; PostgreSQL aware ones."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class LiveViews:
    """The latest audited view of each login and call, and the rule for writing another."""

    def __init__(self, window_s: float, max_views: int = MAX_VIEWS) -> None:
        self.window = timedelta(seconds=window_s)
        self._last: OrderedDict[tuple[str, str], datetime] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_views

    def view(self, login: str, call_sid: str,
             last_recorded: Callable[[datetime], datetime | None],
             record: Callable[[], None]) -> bool:
        """Audit that ``login`` was shown ``call_sid``, unless it is the same viewing.

        ``last_recorded(since)`` is the time of the login's newest ``view_live`` row
        for the call at or after ``since`` (None if none); ``record()`` writes a row
        and raises when it cannot.  True when a row was written.
        """
        key = (login, call_sid)
        with self._lock:  # one decision at a time: a burst of reconnects writes one row
            now = utcnow()
            since = now - self.window
            last = self._last.get(key)
            if last is None or last < since:
                found = last_recorded(since)
                last = _aware(found) if found is not None else None
            written = last is None or last < since
            if written:
                record()
                last = now
            assert last is not None
            self._last[key] = last
            self._last.move_to_end(key)
            while len(self._last) > self._max:
                self._last.popitem(last=False)
            return written
