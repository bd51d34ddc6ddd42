"""Writing a call's records while it runs, without ever blocking the call.

``RecordWriter`` is one thread per process that performs record writes in the
order they were made.  When the database goes away the writes wait, in order,
and are retried with back-off until it answers again; the call never waits on
the database.  A write the database refuses for good (a value it cannot store,
a call that does not exist) is logged and skipped so it cannot block the rest.
``CallRecorder`` is the per-call face of it that a ``LiveCall`` uses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from voice.events import CallStarted, EndStatus, FrustrationState, Prompt, Utterance
from voice.metrics import counters
from voice.records.redact import Redactor, redact_utterance
from voice.records.store import RecordError, RecordStore

log = logging.getLogger(__name__)

PERMANENT_ERRORS = (RecordError, DataError, IntegrityError)


@dataclass
class _Write:
    call_sid: str
    what: str
    action: Callable[[], Any]


class RecordWriter:
    """Performs record writes in order on its own thread, retrying through outages."""

    def __init__(self, store: RecordStore, retry_min_s: float = 0.5, retry_max_s: float = 30.0,
                 redactor: Redactor | None = None):
        self.store = store
        self.redactor = redactor or Redactor()
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self._queue: deque[_Write] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._kick = False
        self._closed = False
        self._outage_since: float | None = None
        self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
        self._thread.start()

    def submit(self, call_sid: str, what: str, action: Callable[[], Any]) -> None:
        """Queue one write; it runs after every write submitted before it."""
        with self._cond:
            self._queue.append(_Write(call_sid, what, action))
            self._cond.notify_all()

    def pending(self, call_sid: str | None = None) -> int:
        """Writes not yet done (for one call, or all)."""
        with self._cond:
            waiting = list(self._queue)
        if call_sid is None:
            return len(waiting)
        return sum(1 for w in waiting if w.call_sid == call_sid)

    @property
    def in_outage(self) -> bool:
        """Whether the database is failing writes right now."""
        return self._outage_since is not None

    def flush(self, timeout: float = 10.0) -> bool:
        """Retry now and wait up to ``timeout`` s for every queued write; True when done."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._kick = True
            self._cond.notify_all()
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Finish what can be finished within ``timeout`` and stop the thread."""
        done = self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=2.0)
        if not done:
            log.error("records: %d write(s) could not be saved before shutdown", self.pending())
        return done

    def _run(self) -> None:
        delay = self.retry_min_s
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed and (not self._queue or self.in_outage):
                    return
                write = self._queue[0]
                self._busy = True
            outcome = self._attempt(write)
            with self._cond:
                self._busy = False
                if outcome != "retry":
                    self._queue.popleft()
                    delay = self.retry_min_s
                self._cond.notify_all()
                if outcome == "retry" and not self._closed:
                    self._kick = False
                    self._cond.wait_for(lambda: self._kick or self._closed, timeout=delay)
                    delay = min(delay * 2, self.retry_max_s)

    def _attempt(self, write: _Write) -> str:
        try:
            write.action()
        except PERMANENT_ERRORS as exc:
            counters.incr("db.writes_refused")
            log.error("call %s: the database refused the %s write, skipping it: %s",
                      write.call_sid, write.what, str(exc).splitlines()[0])
            return "skipped"
        except SQLAlchemyError as exc:
            counters.incr("db.write_failures")
            if self._outage_since is None:
                self._outage_since = time.monotonic()
                log.error("records: database unavailable (%s); writes are kept in memory in "
                          "order and retried until it returns", exc.__class__.__name__)
            return "retry"
        except Exception:
            counters.incr("db.write_errors")
            log.exception("call %s: the %s write failed, skipping it", write.call_sid, write.what)
            return "skipped"
        if self._outage_since is not None:
            log.warning("records: database back after %.0f s; %d queued write(s) replaying",
                        time.monotonic() - self._outage_since, len(self._queue) - 1)
            self._outage_since = None
        return "done"


class CallRecorder:
    """One call's writes, queued on the process's ``RecordWriter``."""

    def __init__(self, writer: RecordWriter, call_sid: str) -> None:
        self.writer = writer
        self.store = writer.store
        self.call_sid = call_sid

    @property
    def pending(self) -> int:
        """This call's writes not yet saved."""
        return self.writer.pending(self.call_sid)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait up to ``timeout`` s for the queued writes; True when all are saved."""
        return self.writer.flush(timeout)

    def _write(self, what: str, action: Callable[[], Any]) -> None:
        self.writer.submit(self.call_sid, what, action)

    def open(self, started: CallStarted, stream_sid: str | None = None,
             instance_id: str | None = None) -> None:
        """Write the new call row."""
        self._write("call", lambda: self.store.open_call(started, stream_sid, instance_id))

    def utterance(self, utterance: Utterance) -> None:
        """Write a final utterance, card numbers and SSNs redacted first."""
        clean = redact_utterance(self.writer.redactor, utterance)
        self._write("utterance", lambda: self.store.add_utterance(clean))

    def frustration(self, state: FrustrationState) -> None:
        """Write a frustration point."""
        self._write("frustration", lambda: self.store.add_frustration(state))

    def prompt(self, prompt: Prompt) -> None:
        """Write a shown prompt."""
        self._write("prompt", lambda: self.store.add_prompt(prompt))

    def update(self, **values: Any) -> None:
        """Write summary fields of the call."""
        self._write("call update", lambda: self.store.update_call(self.call_sid, **values))

    def close(self, status: EndStatus, **kwargs: Any) -> None:
        """Close the call and file its follow-up."""
        self._write("close", lambda: self.store.close_call(self.call_sid, status, **kwargs))
