"""The shared decoding pool: a few OS threads decode every call's audio, fairly.

One thread per call (the old design) made each call's native decoder memory
land in a fresh glibc malloc arena that was never handed back, and let the
kernel decide which call fell behind.  Here a process holds one
``DecodingPool`` of ``threads`` workers (one per core by default).  Each call
is a ``DecodeJob`` with its own bounded queue; a job with work waits in one
round-robin line, a worker takes the job at the head, runs one *slice* of it
(at most ``slice_items`` queued chunks) and puts it back at the tail if it
still has work.  A backlog on one call therefore spreads over all calls
instead of starving one, and a job is never decoded by two threads at once.

``release_memory`` asks glibc to give freed heap back to the system
(``malloc_trim(0)``); the pool calls it when a call's job ends.  On a C library
without ``malloc_trim`` it does nothing.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

_LIBC: Any = None
_LIBC_LOADED = False


def release_memory() -> bool:
    """Return freed heap to the OS with glibc's ``malloc_trim(0)``; False when unavailable."""
    global _LIBC, _LIBC_LOADED
    if not _LIBC_LOADED:
        _LIBC_LOADED = True
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
            _LIBC = libc if libc is not None and hasattr(libc, "malloc_trim") else None
        except OSError:
            _LIBC = None
    if _LIBC is None:
        return False
    try:
        _LIBC.malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


class DecodeJob:
    """One call's queue of work on the pool.

    ``submit`` adds an item (False, and nothing queued, when the queue holds
    ``max_items``); the pool calls ``handle(item)`` for each item in order,
    ``on_idle()`` when the job has had no new item for ``idle_s``, and
    ``on_close()`` once after every item queued before ``close``.
    """

    def __init__(self, pool: DecodingPool, name: str, handle: Callable[[Any], None],
                 on_close: Callable[[], None], on_idle: Callable[[], None] | None = None,
                 max_items: int = 1500, idle_s: float = 0.5) -> None:
        self.pool = pool
        self.name = name
        self.handle = handle
        self.on_close = on_close
        self.on_idle = on_idle
        self.max_items = max_items
        self.idle_s = idle_s
        self._items: collections.deque[tuple[float, Any]] = collections.deque()
        self._scheduled = False  # in the pool's line or being run by a worker
        self._closing = False
        self._idle_due = False  # new items arrived since the last on_idle
        self.last_item_at = time.monotonic()
        self.done = threading.Event()
        self.slices = 0

    def submit(self, item: Any) -> bool:
        """Queue one item; False when the job is closing or its queue is full."""
        with self.pool._lock:
            if self._closing or len(self._items) >= self.max_items:
                return False
            now = time.monotonic()
            self._items.append((now, item))
            self.last_item_at = now
            self._idle_due = True
            self.pool._schedule(self)
        return True

    def close(self, timeout: float = 30.0) -> bool:
        """Run what is queued, then ``on_close``; wait up to ``timeout``; True when done."""
        with self.pool._lock:
            if not self._closing:
                self._closing = True
                self.pool._schedule(self)
        return self.done.wait(timeout)

    @property
    def backlog(self) -> int:
        """Items queued and not yet handled."""
        with self.pool._lock:
            return len(self._items)

    def lag_s(self, now: float | None = None) -> float:
        """Seconds the oldest queued item has waited (0 when nothing is queued)."""
        with self.pool._lock:
            if not self._items:
                return 0.0
            return max(0.0, (now or time.monotonic()) - self._items[0][0])


class DecodingPool:
    """``threads`` OS threads running the jobs of every call in fair slices."""

    def __init__(self, threads: int | None = None, slice_items: int = 20,
                 name: str = "decode") -> None:
        self.threads = max(1, threads or os.cpu_count() or 1)
        self.slice_items = max(1, slice_items)
        self.name = name
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._line: collections.deque[DecodeJob] = collections.deque()
        self._jobs: set[DecodeJob] = set()
        self._workers: list[threading.Thread] = []
        self._stopping = False

    def job(self, name: str, handle: Callable[[Any], None], on_close: Callable[[], None],
            on_idle: Callable[[], None] | None = None, max_items: int = 1500,
            idle_s: float = 0.5) -> DecodeJob:
        """A new call's job on this pool (the worker threads start on first use)."""
        job = DecodeJob(self, name, handle, on_close, on_idle, max_items, idle_s)
        with self._lock:
            self._jobs.add(job)
            if not self._workers:
                self._start_workers()
        return job

    @property
    def jobs(self) -> int:
        """Jobs open on the pool."""
        with self._lock:
            return len(self._jobs)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker threads once the line is empty (tests, shutdown)."""
        with self._lock:
            self._stopping = True
            self._ready.notify_all()
            workers, self._workers = self._workers, []
        for thread in workers:
            thread.join(timeout)
        with self._lock:
            self._stopping = False

    # --- inside the pool (callers hold self._lock where noted) ----------------------

    def _start_workers(self) -> None:
        for i in range(self.threads):
            thread = threading.Thread(target=self._work, name=f"{self.name}-{i}", daemon=True)
            self._workers.append(thread)
            thread.start()

    def _schedule(self, job: DecodeJob) -> None:
        """Put a job in line unless it is there already (lock held)."""
        if not job._scheduled:
            job._scheduled = True
            self._line.append(job)
            self._ready.notify()

    def _next_job(self) -> DecodeJob | None:
        """The job at the head of the line, waiting for one; None when stopping."""
        with self._lock:
            while not self._line:
                if self._stopping:
                    return None
                if not self._ready.wait(0.25):
                    self._queue_idle_jobs()
            return self._line.popleft()

    def _queue_idle_jobs(self) -> None:
        """Schedule jobs that got no item for their ``idle_s`` (lock held)."""
        now = time.monotonic()
        for job in self._jobs:
            if (job._idle_due and job.on_idle is not None and not job._items
                    and now - job.last_item_at >= job.idle_s):
                self._schedule(job)

    def _work(self) -> None:
        while True:
            job = self._next_job()
            if job is None:
                return
            self._run_slice(job)

    def _run_slice(self, job: DecodeJob) -> None:
        job.slices += 1
        with self._lock:
            count = min(self.slice_items, len(job._items))
            idle = not count and job._idle_due and not job._closing
            if idle:
                job._idle_due = False
        for _ in range(count):
            with self._lock:
                item = job._items[0][1]  # stays queued (and counted in the lag) until handled
            self._safely(job, job.handle, item)
            with self._lock:
                job._items.popleft()
        if idle and job.on_idle is not None:
            self._safely(job, job.on_idle)
        with self._lock:
            if job._items:
                self._line.append(job)  # back of the line: fair to the others
                self._ready.notify()
                return
            finishing = job._closing and not job.done.is_set()
            if not finishing:
                job._scheduled = False
                return
        self._safely(job, job.on_close)
        with self._lock:
            self._jobs.discard(job)
            job._scheduled = False
        job.handle = job.on_close = _ended  # no cycle back to the call's worker
        job.on_idle = None
        job.done.set()
        release_memory()

    @staticmethod
    def _safely(job: DecodeJob, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("decoding job %s failed", job.name)


def _ended(*args: Any) -> None:
    """What a finished job's callbacks become."""


_DEFAULT_POOL: DecodingPool | None = None
_DEFAULT_LOCK = threading.Lock()


def default_pool(threads: int | None = None) -> DecodingPool:
    """The process-wide pool (created on first use with ``threads`` workers)."""
    global _DEFAULT_POOL
    with _DEFAULT_LOCK:
        if _DEFAULT_POOL is None:
            _DEFAULT_POOL = DecodingPool(threads)
        return _DEFAULT_POOL
