"""The operator's numbers, in Prometheus metrics: ``GET /metrics`` serves them.

``counters.incr(name)`` keeps the small API the code has always used (bad
frames, dropped audio, bus and database trouble ...), but each name is one
Prometheus counter child: a few names have their own metric (``COUNTER_NAMES``
and ``COUNTER_PREFIXES``), every other name is ``voice_events_total{event=name}``.
``counters.get``/``snapshot`` read those values back (``/healthz`` shows the
snapshot) relative to the last ``reset`` (tests), so a Prometheus counter
never goes down.

Gauges that describe the present (live calls, ASR lag per call, write and
publish queue depth) are set by ``refresh(services)``, called on every scrape
and every few seconds by ``GaugeRefresher``, so in multi-process mode each
worker's values stay current between scrapes of other workers.

Multi-process: when ``PROMETHEUS_MULTIPROC_DIR`` is set before this module is
imported (``VOICE_WORKERS`` > 1 requires it), prometheus_client keeps values in
files there and ``exposition`` aggregates every worker's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

if TYPE_CHECKING:
    from voice.services import Services

log = logging.getLogger(__name__)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

LIVE_CALLS = Gauge("voice_live_calls", "Calls live on this instance.",
                   multiprocess_mode="livesum")
FRAMES_RECEIVED = Counter("voice_frames_received_total",
                          "Media Stream messages received (all kinds).")
FRAMES_SKIPPED = Counter("voice_frames_skipped_total",
                         "Media Stream messages skipped or refused, by reason.", ["reason"])
FRAMES_DROPPED = Counter("voice_frames_dropped_total",
                         "Audio chunks dropped because decoding fell behind.")
ASR_LAG = Gauge("voice_asr_lag_seconds",
                "How far transcription of a live call trails its audio.", ["call_sid"],
                multiprocess_mode="livemax")
DECODE_RTF = Histogram("voice_decode_real_time_factor",
                       "Decoding time / audio time, per decoded batch of one track.",
                       buckets=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0))
PROMPT_LATENCY = Histogram("voice_prompt_latency_seconds",
                           "A final utterance entering the stages to its prompt published.",
                           buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
FRUSTRATION_LATENCY = Histogram("voice_frustration_scoring_seconds",
                                "Scoring one utterance for frustration.",
                                buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0))
DB_QUEUE_DEPTH = Gauge("voice_db_write_queue_depth",
                       "Record writes waiting for the database.", multiprocess_mode="livesum")
DB_WRITE_FAILURES = Counter("voice_db_write_failures_total",
                            "Record writes that failed (kind: failure = retried, "
                            "error = given up, refused = the database refused it).", ["kind"])
BUS_QUEUE_DEPTH = Gauge("voice_bus_publish_queue_depth",
                        "Events waiting to be published on the bus.",
                        multiprocess_mode="livesum")
BUS_PUBLISH_FAILURES = Counter("voice_bus_publish_failures_total",
                               "Bus publishes that failed (kind: error = retried, dropped = "
                               "buffer full, unsendable = skipped).", ["kind"])
FAILED_LOGINS = Counter("voice_failed_logins_total", "Logins refused for a wrong password.")
EVENTS = Counter("voice_events_total", "Other handled trouble and milestones, by name.",
                 ["event"])

COUNTER_NAMES: dict[str, Callable[[], Counter]] = {
    "twilio.frames_received": lambda: FRAMES_RECEIVED,
    "asr.chunks_dropped": lambda: FRAMES_DROPPED,
    "db.write_failures": lambda: DB_WRITE_FAILURES.labels("failure"),
    "db.write_errors": lambda: DB_WRITE_FAILURES.labels("error"),
    "db.writes_refused": lambda: DB_WRITE_FAILURES.labels("refused"),
    "bus.publish_errors": lambda: BUS_PUBLISH_FAILURES.labels("error"),
    "bus.publish_dropped": lambda: BUS_PUBLISH_FAILURES.labels("dropped"),
    "bus.publish_unsendable": lambda: BUS_PUBLISH_FAILURES.labels("unsendable"),
    "auth.logins_failed": lambda: FAILED_LOGINS,
}
"""Counter names with a metric of their own."""

COUNTER_PREFIXES: dict[str, Counter] = {"twilio.stream.": FRAMES_SKIPPED}
"""Counter-name prefixes whose rest is the metric's one label."""


def _child(name: str) -> Counter:
    if name in COUNTER_NAMES:
        return COUNTER_NAMES[name]()
    for prefix, metric in COUNTER_PREFIXES.items():
        if name.startswith(prefix):
            return metric.labels(name[len(prefix):])
    return EVENTS.labels(name)


def _value(child: Counter) -> float:
    return float(child._value.get())  # noqa: SLF001 - prometheus_client has no public getter


class Counters:
    """Named counters safe to bump from any thread, each one Prometheus counter child."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._children: dict[str, Counter] = {}
        self._baseline: dict[str, float] = {}

    def _get_child(self, name: str) -> Counter:
        child = self._children.get(name)
        if child is None:
            with self._lock:
                child = self._children.setdefault(name, _child(name))
        return child

    def incr(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name``."""
        self._get_child(name).inc(amount)

    def get(self, name: str) -> int:
        """Current value of ``name`` since the last reset (0 when never bumped)."""
        child = self._children.get(name)
        if child is None:
            return 0
        return int(_value(child) - self._baseline.get(name, 0.0))

    def snapshot(self) -> dict[str, int]:
        """Every counter bumped since the last reset, by name."""
        with self._lock:
            names = list(self._children)
        values = {name: self.get(name) for name in names}
        return {name: value for name, value in values.items() if value}

    def reset(self) -> None:
        """Count from zero again (tests); the Prometheus counters themselves never go down."""
        with self._lock:
            self._baseline = {name: _value(child) for name, child in self._children.items()}


counters = Counters()


def observe_decode(audio_s: float, decode_s: float) -> None:
    """One decoded batch: how long ``audio_s`` seconds of audio took to decode."""
    if audio_s > 0:
        DECODE_RTF.observe(decode_s / audio_s)


def observe_prompt_latency(seconds: float) -> None:
    """A final utterance went in and its prompt came out ``seconds`` later."""
    PROMPT_LATENCY.observe(seconds)


def observe_frustration_scoring(seconds: float) -> None:
    """One utterance was scored for frustration in ``seconds``."""
    FRUSTRATION_LATENCY.observe(seconds)


def asr_lags(services: Services) -> dict[str, float]:
    """Seconds each live call's transcription trails its audio (``CallRegistry.asr_lag``)."""
    return {sid: float(status["lag_s"]) for sid, status in services.calls.asr_lag().items()}


_shown_lags: set[str] = set()
_lags_lock = threading.Lock()


def refresh(services: Services) -> None:
    """Set the gauges that describe now: live calls, ASR lag per call, queue depths."""
    LIVE_CALLS.set(len(services.calls.live()))
    DB_QUEUE_DEPTH.set(services.writer.pending())
    BUS_QUEUE_DEPTH.set(services.publisher.waiting)
    lags = asr_lags(services)
    with _lags_lock:
        for call_sid, seconds in lags.items():
            ASR_LAG.labels(call_sid).set(seconds)
        for gone in _shown_lags - set(lags):
            try:
                ASR_LAG.remove(gone)
            except KeyError:
                pass
        _shown_lags.clear()
        _shown_lags.update(lags)


def exposition(services: Services) -> tuple[bytes, str]:
    """This instance's gauges refreshed, then ``render()``."""
    refresh(services)
    return render()


def render() -> tuple[bytes, str]:
    """The metrics text (every worker's in multi-process mode) and its content type."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # unannotated in prometheus_client
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(DEFAULT_REGISTRY), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """gunicorn's ``child_exit`` hook: forget a dead worker's live gauges."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]  # unannotated in prometheus_client


class GaugeRefresher:
    """Refreshes the gauges every ``interval_s`` seconds on a daemon thread."""

    def __init__(self, services: Services, interval_s: float = 5.0) -> None:
        self.services = services
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics-gauges", daemon=True)

    def start(self) -> GaugeRefresher:
        """Begin refreshing."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop refreshing."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            began = time.monotonic()
            try:
                refresh(self.services)
            except Exception as exc:  # a gauge must never take the process down
                log.warning("metrics refresh failed: %s", exc.__class__.__name__)
            if time.monotonic() - began > self.interval_s:
                log.warning("metrics refresh took longer than its %.0f s interval",
                            self.interval_s)
