"""CallSession: the one place that wires the stages for one call.

Ingress (a Twilio stream or a simulated scenario) opens a session and feeds it
audio or utterances; the session runs them through transcription, frustration
and the coach, publishes every event on the bus for the desk, and writes the
record as it goes.  ``CallRegistry`` holds the live sessions of this process.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from voice.bus.publisher import QueuedPublisher
from voice.events import (
    CallEnded,
    CallEvent,
    CallStarted,
    FrustrationState,
    Prompt,
    Speaker,
    Utterance,
    event_payload,
)
from voice.metrics import counters
from voice.records import CallRecorder, RecordWriter

if TYPE_CHECKING:
    from voice.bus import Bus
    from voice.coach import PlaybookWatcher
    from voice.config import Config
    from voice.frustration import UtteranceScorer
    from voice.records import RecordStore
    from voice.transcribe import SpeechEngine

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a call needs that lives for the whole process."""

    config: Config
    store: RecordStore
    bus: Bus
    speech: SpeechEngine | None = None
    speech_status: str = "not loaded"
    scorer: UtteranceScorer | None = None
    scorer_status: str = "not loaded"
    playbook: PlaybookWatcher | None = None
    playbook_status: str = "not loaded"
    calls: CallRegistry = field(init=False)
    writer: RecordWriter = field(init=False)
    publisher: QueuedPublisher = field(init=False)
    instance_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.instance_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.writer = RecordWriter(self.store)
        self.publisher = QueuedPublisher(self.bus)
        self.calls = CallRegistry(self)

    def close(self) -> None:
        """Shutdown: end live calls, then save and publish what is still queued."""
        self.calls.stop_heartbeat()
        self.calls.end_all("interrupted")
        self.writer.close()
        self.publisher.close()


def now_iso() -> str:
    """Current UTC time as ISO-8601."""
    return datetime.now(UTC).isoformat()


class CallSession:
    """One call flowing through the stages; thread-safe."""

    def __init__(
        self,
        services: Services,
        started: CallStarted,
        stream_sid: str | None = None,
        previous: CallSession | None = None,
    ):
        self.services = services
        self.started = started
        self.call_sid = started.call_sid
        self.desk = started.desk or services.config.desk_name
        self.stream_sid = stream_sid
        self.recorder = CallRecorder(services.writer, self.call_sid)
        self._lock = threading.Lock()
        self._ended = False
        self._finished = False
        self.last_state: FrustrationState | None = None
        self.prompts: list[Prompt] = []
        if previous is not None:  # a new stream for the same call: the call goes on
            self.last_state, self.prompts = previous.last_state, previous.prompts
            self.frustration, self.coach = previous.frustration, previous.coach
        else:
            self.frustration = self._make_frustration()
            self.coach = self._make_coach()
        self.worker = None
        self.listeners: list[Callable[[CallEvent], None]] = []

    def _make_frustration(self) -> Any:
        if self.services.scorer is None:
            return None
        from voice.frustration import CallFrustration

        return CallFrustration(self.call_sid, self.services.scorer)

    def _make_coach(self) -> Any:
        if self.services.playbook is None:
            return None
        from voice.coach import PromptEngine

        return PromptEngine(self.call_sid, self.services.playbook.current)

    @property
    def ended(self) -> bool:
        """Whether the call has been ended (by stop, status callback or shutdown)."""
        return self._ended

    # --- lifecycle -----------------------------------------------------------------

    def start(self, with_audio: bool = True) -> None:
        """Write the record, announce the call and start transcription."""
        self.recorder.open(self.started, self.stream_sid, self.services.instance_id)
        self.recorder.flush(timeout=2.0)  # the record exists once start returns, DB willing
        self._publish(self.started)
        if with_audio:
            from voice.transcribe import TranscriptionWorker

            self.worker = TranscriptionWorker(
                self.services.speech,
                self.call_sid,
                self.add_utterance,
                max_queue_chunks=self.services.config.asr_queue_chunks,
            )

    def feed_audio(self, speaker: Speaker, pcm8k: np.ndarray, t: float) -> bool:
        """Queue 8 kHz PCM of one track for transcription; False when it was dropped."""
        if self.worker is None or self._ended:
            return False
        accepted = self.worker.submit(speaker, pcm8k, t)
        if not accepted:
            counters.incr("asr.chunks_dropped")
        return accepted

    def hand_over(self) -> None:
        """A newer stream took over this call: stop decoding here, keep the call open."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
        if self.worker is not None:
            self.worker.close()
        with self._lock:
            self._finished = True
        self.services.calls.forget(self)

    def end(self, status: str = "completed") -> bool:
        """Finish transcription, close the record, file the follow-up; idempotent."""
        with self._lock:
            if self._ended:
                return False
            self._ended = True
        if self.worker is not None:
            self.worker.close()
        with self._lock:
            self._finished = True  # anything a stuck decoder says later is not this call's
            summary, flagged, reasons = self._summary()
            self.recorder.close(
                status,
                flagged=flagged,
                flag_reasons=reasons,
                follow_up=self._follow_up_text(flagged, reasons),
                summary=summary,
            )
            self._publish(
                CallEnded(self.call_sid, status, now_iso(), flagged=flagged, flag_reasons=reasons)
            )
        self.services.calls.forget(self)
        if not self.recorder.flush(timeout=5.0):
            log.warning("call %s: %d record write(s) wait for the database; they are saved "
                        "when it answers", self.call_sid, self.recorder.pending)
        return True

    def acknowledge_prompt(self, prompt_id: str, action: str) -> None:
        """Tell the coach the receptionist marked a card done or dismissed it."""
        if self.coach is None:
            return
        with self._lock:
            self.coach.acknowledge(prompt_id, action)

    # --- the stages ----------------------------------------------------------------

    def add_utterance(self, utterance: Utterance) -> None:
        """Run one utterance through frustration and the coach, publish and record."""
        with self._lock:
            if self._finished or (self._ended and self.worker is None):
                return
            self._publish(utterance)
            if utterance.final and utterance.text.strip():
                self.recorder.utterance(utterance)
            state = self._score(utterance)
            if state is not None:
                self.last_state = state
                self._publish(state)
                self.recorder.frustration(state)
            for prompt in self._coach(utterance, state):
                self.prompts.append(prompt)
                self._publish(prompt)
                self.recorder.prompt(prompt)

    def _score(self, utterance: Utterance) -> FrustrationState | None:
        if self.frustration is None or not utterance.text.strip():
            return None
        try:
            return self.frustration.observe(utterance)
        except Exception:
            counters.incr("frustration.errors")
            log.exception("call %s: frustration stage failed", self.call_sid)
            return None

    def _coach(self, utterance: Utterance, state: FrustrationState | None) -> list[Prompt]:
        if self.coach is None:
            return []
        try:
            prompts = list(self.coach.on_utterance(utterance))
            if state is not None:
                prompts += self.coach.on_frustration(state)
            return prompts
        except Exception:
            counters.incr("coach.errors")
            log.exception("call %s: coach stage failed", self.call_sid)
            return []

    def _publish(self, event: CallEvent) -> None:
        kind, data = event_payload(event)
        self.services.publisher.publish(self.desk, kind, data)
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                counters.incr("session.listener_errors")
                log.exception("call %s: a listener failed on %s", self.call_sid, kind)

    # --- the end of the call -------------------------------------------------------

    def _summary(self) -> tuple[dict[str, Any], bool, tuple[str, ...]]:
        summary: dict[str, Any] = {}
        flagged, reasons = False, ()
        if self.frustration is not None:
            result = self.frustration.summary()
            summary["peak_score"] = result.peak_score
            summary["peak_level"] = result.peak_level
            flagged, reasons = bool(result.flagged), tuple(result.flag_reasons)
        if self.coach is not None:
            summary["caller_name"] = self.coach.caller_name
            summary["topic"] = self.coach.topic
        if self.worker is not None:
            summary["stats"] = dict(self.worker.stats)
        return summary, flagged, reasons

    def _follow_up_text(self, flagged: bool, reasons: tuple[str, ...]) -> str:
        who = (self.coach.caller_name if self.coach else None) or self.started.from_number
        topic = self.coach.topic_phrase if self.coach else "their call"
        who = who or "the caller"
        if flagged:
            why = f" The call was flagged: {reasons[0]}." if reasons else ""
            return f"Call {who} back about {topic} and confirm it was resolved.{why}"
        return f"Confirm that what was agreed with {who} about {topic} was done."


class CallRegistry:
    """The live calls of this process, by call sid, and their heartbeat."""

    HEARTBEAT_S = 30.0
    STALE_AFTER_S = 120.0

    def __init__(self, services: Services) -> None:
        self.services = services
        self._calls: dict[str, CallSession] = {}
        self._lock = threading.Lock()
        self._heartbeat_stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def open(
        self, started: CallStarted, stream_sid: str | None = None, with_audio: bool = True
    ) -> CallSession:
        """Start a session for a call; a second stream for a live call takes it over,
        keeping its frustration and coaching state and its one record."""
        previous = self.get(started.call_sid)
        if previous is not None:
            previous.hand_over()
        session = CallSession(self.services, started, stream_sid, previous)
        session.start(with_audio=with_audio)
        with self._lock:
            if not session.ended:
                self._calls[started.call_sid] = session
        return session

    def get(self, call_sid: str) -> CallSession | None:
        """The live session for ``call_sid``, if any."""
        with self._lock:
            return self._calls.get(call_sid)

    def end(self, call_sid: str, status: str) -> bool:
        """End a live call and wait for it; False when it is not live here."""
        session = self.get(call_sid)
        return session.end(status) if session else False

    def end_soon(self, call_sid: str, status: str) -> bool:
        """End a live call on a background thread (a webhook must answer at once)."""
        session = self.get(call_sid)
        if session is None or session.ended:
            return False
        threading.Thread(target=session.end, args=(status,), name=f"end-{call_sid}",
                         daemon=True).start()
        return True

    def forget(self, session: CallSession) -> None:
        """Drop an ended session (not a newer one for the same call)."""
        with self._lock:
            if self._calls.get(session.call_sid) is session:
                del self._calls[session.call_sid]

    def live(self) -> list[CallSession]:
        """Sessions still running."""
        with self._lock:
            return list(self._calls.values())

    def end_all(self, status: str = "interrupted") -> None:
        """End every live call (shutdown)."""
        for session in self.live():
            session.end(status)

    # --- heartbeat: other instances can tell our calls from a dead instance's -------

    def heartbeat_once(self) -> list[str]:
        """Renew this instance's live calls; close calls nobody renewed; returns those."""
        store = self.services.store
        try:
            store.touch_calls([s.call_sid for s in self.live()])
            closed = store.close_interrupted_calls(stale_after_s=self.STALE_AFTER_S)
        except Exception as exc:
            log.warning("call heartbeat skipped: %s", exc.__class__.__name__)
            return []
        if closed:
            log.warning("closed %d call(s) whose instance stopped answering: %s",
                        len(closed), closed)
        return closed

    def close_calls_of_dead_instances(self) -> list[str]:
        """At start-up: close calls left live by a process of this host that is gone,
        and any call whose heartbeat is stale."""
        host = socket.gethostname()
        dead = []
        for call_sid, owner in self.services.store.live_call_owners().items():
            owner_host, _, rest = (owner or "").partition(":")
            pid = rest.partition(":")[0]
            if owner_host == host and pid.isdigit() and not _process_alive(int(pid)):
                dead.append(call_sid)
        return self.services.store.close_interrupted_calls(self.STALE_AFTER_S, also=dead)

    def start_heartbeat(self) -> None:
        """Renew heartbeats and sweep stale calls every ``HEARTBEAT_S`` seconds."""
        def beat() -> None:
            while not self._heartbeat_stop.wait(self.HEARTBEAT_S):
                self.heartbeat_once()

        self._heartbeat = threading.Thread(target=beat, name="call-heartbeat", daemon=True)
        self._heartbeat.start()

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat thread."""
        self._heartbeat_stop.set()


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a call "owned" by this new process cannot be live yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
