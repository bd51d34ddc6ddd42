"""The process-wide parts of the service, typed, and how they are built.

``build_services`` opens the records store (migrating it and closing calls a
crash left open), picks the bus, runs the loaders (each returns what it loaded
and a status; a loader never mutates the container) and wires the call
registry.  Blueprints reach the running app's parts through
``current_services()``; tests through ``services_of(app)``.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from voice.bus import Bus, make_bus
from voice.bus.publisher import QueuedPublisher
from voice.calls import CallParts, CallRegistry
from voice.calls.routing import CallRouter
from voice.config import Config
from voice.decoding import DecodingPool
from voice.loading import Loaded, load_playbook, load_sentiment, load_speech
from voice.records import RecordStore, RecordWriter
from voice.records.outcome import OutcomeSettings
from voice.records.redact import Redactor

if TYPE_CHECKING:
    from voice.coach import PlaybookWatcher
    from voice.coach.playbook import Topic
    from voice.frustration import UtteranceScorer
    from voice.transcribe import SpeechEngine

log = logging.getLogger("voice")

EXTENSION_KEY = "voice"


@dataclass
class Services:
    """Everything that lives for the whole process: records, bus, models, live calls."""

    config: Config
    store: RecordStore
    bus: Bus
    writer: RecordWriter
    publisher: QueuedPublisher
    calls: CallRegistry
    router: CallRouter
    instance_id: str
    speech: SpeechEngine | None = None
    speech_status: str = "not loaded"
    scorer: UtteranceScorer | None = None
    scorer_status: str = "not loaded"
    playbook: PlaybookWatcher | None = None
    playbook_status: str = "not loaded"

    def close(self) -> None:
        """Shutdown: end live calls, then save and publish what is still queued."""
        self.router.stop()
        self.calls.stop_heartbeat()
        self.calls.end_all("interrupted")
        self.writer.close()
        self.publisher.close()
        if self.calls.parts.decoder is not None:
            self.calls.parts.decoder.stop()


def new_instance_id() -> str:
    """``host:pid:random``: names this process as the owner of its live calls."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _loaded(overrides: dict[str, Any], name: str, load: Any, config: Config) -> Loaded[Any]:
    """An override given to ``create_app`` (tests pass fakes), else what the loader found."""
    if name in overrides:
        value = overrides.pop(name)
        return Loaded(value, overrides.pop(f"{name}_status", "supplied to create_app"))
    loaded: Loaded[Any] = load(config)
    if f"{name}_status" in overrides:
        return Loaded(loaded.value, overrides.pop(f"{name}_status"))
    return loaded


def _topics_of(playbook: PlaybookWatcher | None) -> Callable[[], tuple[Topic, ...]]:
    """The playbook's current topics, read when a call's outcome is filed."""
    def topics() -> tuple[Topic, ...]:
        return tuple(playbook.current().topics) if playbook is not None else ()

    return topics


def build_services(config: Config, **overrides: Any) -> Services:
    """Open the store and bus, load the models and playbook, wire the call registry.

    ``overrides`` (``store``, ``bus``, ``speech``, ``scorer``, ``playbook`` and
    their ``*_status``) replace what would be loaded; an unknown name is an error.
    """
    store: RecordStore = overrides.pop("store", None) or RecordStore(config.database_url)
    store.migrate()
    bus: Bus = overrides.pop("bus", None) or make_bus(config.redis_url)
    from voice.embedding import set_torch_threads

    set_torch_threads(config.torch_threads)  # torch loads only for a torch scorer or training
    speech = _loaded(overrides, "speech", load_speech, config)
    scorer = _loaded(overrides, "scorer", load_sentiment, config)
    playbook = _loaded(overrides, "playbook", load_playbook, config)
    if overrides:
        raise TypeError(f"unknown service overrides: {', '.join(sorted(overrides))}")
    redactor = Redactor.from_patterns(config.redact_patterns)
    store.outcome = OutcomeSettings(config.timezone, _topics_of(playbook.value), redactor)
    writer = RecordWriter(store, redactor=redactor)
    publisher = QueuedPublisher(bus, maxsize=config.bus_buffer_events, redactor=redactor)
    instance_id = new_instance_id()
    parts = CallParts(
        writer=writer,
        publisher=publisher,
        speech=speech.value,
        scorer=scorer.value,
        playbook=playbook.value,
        instance_id=instance_id,
        desk_name=config.desk_name,
        asr_queue_chunks=config.asr_queue_chunks,
        decoder=DecodingPool(config.decode_threads or None),
        asr_lag_warn_s=config.asr_lag_warn_s,
        asr_partial_interval_s=config.asr_partial_interval_s,
        asr_vad_gate=config.asr_vad_gate,
        asr_end_silence_s=config.asr_end_silence_s,
        caller_history=lambda number, sid: store.caller_history(number, exclude_sid=sid),
        timezone=config.timezone,
    )
    calls = CallRegistry(parts, store, heartbeat_s=config.heartbeat_s,
                         stale_after_s=config.stale_call_s)
    router = CallRouter(bus, calls, store, instance_id).start()
    interrupted = calls.close_calls_of_dead_instances()
    if interrupted:
        log.warning("closed %d call(s) left open by a crash: %s", len(interrupted), interrupted)
    return Services(
        config=config, store=store, bus=bus, writer=writer, publisher=publisher, calls=calls,
        router=router, instance_id=instance_id,
        speech=speech.value, speech_status=speech.status,
        scorer=scorer.value, scorer_status=scorer.status,
        playbook=playbook.value, playbook_status=playbook.status,
    )


def install(app: Flask, services: Services) -> None:
    """Attach ``services`` to ``app`` (``create_app`` does this once)."""
    app.extensions[EXTENSION_KEY] = services


def services_of(app: Flask) -> Services:
    """The ``Services`` of ``app`` (tests and scripts holding an app object)."""
    services = app.extensions[EXTENSION_KEY]
    assert isinstance(services, Services)
    return services


def current_services() -> Services:
    """The ``Services`` of the app handling the current request."""
    return services_of(current_app)
