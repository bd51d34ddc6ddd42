"""Live reload of the playbook: ``PlaybookWatcher`` serves the last good playbook.

A change to any ``prompts/*.yaml`` is picked up on the next access (checked at most
every ``interval_s``); a bad edit is logged and rejected, the running playbook stays.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from voice.coach.playbook import Playbook, PlaybookError
from voice.coach.reader import load_playbook

log = logging.getLogger(__name__)


class PlaybookWatcher:
    """Serves the current playbook from a folder, reloading it when a file changes.

    The folder is checked at most every ``interval_s`` seconds, on access.  A bad edit
    is logged and the last good playbook keeps running; ``last_error`` says why.
    """

    def __init__(
        self,
        folder: str | Path,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = Path(folder)
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._signature = self._scan()
        self._playbook = load_playbook(self.folder)
        self._checked_at = clock()
        self.last_error: PlaybookError | None = None

    def current(self) -> Playbook:
        """The playbook to use now (reloaded first if a file changed)."""
        now = self._clock()
        if now - self._checked_at < self.interval_s:
            return self._playbook
        with self._lock:
            self._checked_at = now
            signature = self._scan()
            if signature != self._signature:
                self._signature = signature
                self._reload()
        return self._playbook

    def _reload(self) -> None:
        try:
            self._playbook = load_playbook(self.folder)
            self.last_error = None
            log.info("playbook reloaded from %s", self.folder)
        except PlaybookError as err:
            self.last_error = err
            log.error("playbook edit rejected, keeping the last good one: %s", err)

    def _scan(self) -> tuple[tuple[str, int, int], ...]:
        out = []
        for path in sorted(self.folder.glob("*.yaml")):
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((path.name, st.st_mtime_ns, st.st_size))
        return tuple(out)
