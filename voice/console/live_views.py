"""Auditing live views: which calls' transcripts a console page was shown.

A console page shows the live transcript of every call on its desk.  Each call a
page is shown is one view for the audit log (``view_live``): recorded once per
login, per call, per page load, however many events the page receives and however
often it reconnects when it names its load with ``?page=`` (an id kept across
reconnects); a stream without one (the console page today) counts as a page load of
its own.  Per process, bounded (``MAX_PAGES`` most recent page loads).
One registry per app (``app.extensions["voice.live_views"]``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

MAX_PAGES = 2000


class LiveViews:
    """The calls each page load has been shown (and audited)."""

    def __init__(self, max_pages: int = MAX_PAGES) -> None:
        self._pages: OrderedDict[tuple[str, str], set[str]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_pages

    def first_view(self, login: str, page: str, call_sid: str) -> bool:
        """Mark ``call_sid`` shown to this page load; True the first time only."""
        with self._lock:
            key = (login, page)
            seen = self._pages.setdefault(key, set())
            self._pages.move_to_end(key)
            while len(self._pages) > self._max:
                self._pages.popitem(last=False)
            if call_sid in seen:
                return False
            seen.add(call_sid)
            return True

    def forget(self, login: str, page: str, call_sid: str) -> None:
        """Unmark a view whose audit row could not be written."""
        with self._lock:
            self._pages.get((login, page), set()).discard(call_sid)
