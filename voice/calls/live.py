"""LiveCall: the one place that wires the stages for one call.

Ingress (a Twilio media socket or a simulated scenario) opens a call through the
``CallRegistry`` and feeds it audio or utterances; the call runs them through
transcription, frustration and the coach, publishes every event on the bus for
the desk, and writes the record as it goes.  A call is given only the parts it
uses (``CallParts``) and an on-end callback, never the whole service container.
A repeat caller's history is looked up once, as the call opens, through the
parts' ``caller_history`` and handed to the coach (an open promise not kept is
the first card); the coach never reads storage itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np

from voice.bus.publisher import QueuedPublisher
from voice.events import (
    CallEnded,
    CallEvent,
    CallStarted,
    EndStatus,
    FrustrationState,
    Prompt,
    Speaker,
    Utterance,
    event_payload,
)
from voice.metrics import counters, observe_frustration_scoring, observe_prompt_latency
from voice.records import CallRecorder, RecordWriter

if TYPE_CHECKING:
    from voice.coach import PlaybookWatcher, PromptEngine, UnkeptPromise
    from voice.decoding import DecodingPool
    from voice.frustration import CallFrustration, UtteranceScorer
    from voice.transcribe import SpeechEngine, TranscriptionWorker

log = logging.getLogger(__name__)


class FeedResult(Enum):
    """What ``LiveCall.feed_audio`` did with a chunk."""

    ACCEPTED = "accepted"
    QUEUE_FULL = "queue_full"  # decoding fell behind: the chunk was dropped and counted
    NO_SPEECH_MODEL = "no_speech_model"  # the call was opened without an audio pipeline
    ENDED = "ended"  # the call ended (stop, status callback, a newer stream, shutdown)


@dataclass(frozen=True)
class CallParts:
    """What a live call uses, and nothing more: handed to every ``LiveCall``."""

    writer: RecordWriter
    publisher: QueuedPublisher
    speech: SpeechEngine | None
    scorer: UtteranceScorer | None
    playbook: PlaybookWatcher | None
    instance_id: str
    desk_name: str = "front-desk"
    asr_queue_chunks: int = 1500
    decoder: DecodingPool | None = None  # None: the process-wide pool
    asr_lag_warn_s: float = 2.0
    asr_partial_interval_s: float = 0.2
    asr_vad_gate: bool = True
    asr_end_silence_s: float = 0.5
    caller_history: Callable[[str, str], Mapping[str, Any]] | None = None  # (number, sid)
    history_wait_s: float = 1.0  # a database that hangs never holds up a call's start
    timezone: str = "UTC"


def now_iso() -> str:
    """Current UTC time as ISO-8601."""
    return datetime.now(UTC).isoformat()


def _started_at(started: CallStarted) -> datetime:
    """When the call began (its event's time; now when the event has none)."""
    try:
        at = datetime.fromisoformat(started.started_at)
    except ValueError:
        return datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class LiveCall:
    """One call flowing through the stages; thread-safe."""

    def __init__(
        self,
        parts: CallParts,
        started: CallStarted,
        stream_sid: str | None = None,
        previous: LiveCall | None = None,
        on_end: Callable[[LiveCall], None] | None = None,
    ):
        self.parts = parts
        self.started = started
        self.call_sid = started.call_sid
        self.desk = started.desk or parts.desk_name
        self.stream_sid = stream_sid
        self._on_end = on_end or (lambda call: None)
        self.recorder = CallRecorder(parts.writer, self.call_sid)
        self._lock = threading.Lock()
        self._ended = False
        self._finished = False
        self.last_state: FrustrationState | None = None
        self.prompts: list[Prompt] = []
        self.frustration: CallFrustration | None
        self.coach: PromptEngine | None
        if previous is not None:  # a new stream for the same call: the call goes on
            self.last_state, self.prompts = previous.last_state, previous.prompts
            self.frustration, self.coach = previous.frustration, previous.coach
        else:
            self.frustration = self._make_frustration()
            self.coach = self._make_coach()
        self.worker: TranscriptionWorker | None = None
        self.listeners: list[Callable[[CallEvent], None]] = []

    def _make_frustration(self) -> CallFrustration | None:
        if self.parts.scorer is None:
            return None
        from voice.frustration import CallFrustration

        return CallFrustration(self.call_sid, self.parts.scorer)

    def _make_coach(self) -> PromptEngine | None:
        if self.parts.playbook is None:
            return None
        from voice.coach import PromptEngine

        return PromptEngine(self.call_sid, self.parts.playbook.current,
                            unkept=self._unkept_promise())

    def _unkept_promise(self) -> UnkeptPromise | None:
        """The caller's open promise that fell due before this call (history at call start)."""
        lookup, number = self.parts.caller_history, self.started.from_number
        if lookup is None or not number:
            return None
        from voice.coach import unkept_promise

        read: list[Mapping[str, Any]] = []
        failed: list[BaseException] = []

        def read_history() -> None:
            try:
                read.append(lookup(number, self.call_sid))
            except Exception as exc:  # the call goes on without history
                failed.append(exc)

        reader = threading.Thread(target=read_history, name=f"history-{self.call_sid}",
                                  daemon=True)
        reader.start()
        reader.join(self.parts.history_wait_s)
        if not read:
            counters.incr("calls.history_errors")
            why = failed[0].__class__.__name__ if failed else (
                f"no answer within {self.parts.history_wait_s:g} s")
            log.warning("call %s: caller history not read (%s)", self.call_sid, why)
            return None
        return unkept_promise(read[0], _started_at(self.started), self.parts.timezone)

    @property
    def ended(self) -> bool:
        """Whether the call has been ended (by stop, status callback or shutdown)."""
        return self._ended

    # --- lifecycle -----------------------------------------------------------------

    def start(self, with_audio: bool = True) -> None:
        """Write the record, announce the call and start transcription."""
        self.recorder.open(self.started, self.stream_sid, self.parts.instance_id)
        self.recorder.flush(timeout=2.0)  # the record exists once start returns, DB willing
        self._publish(self.started)
        if self.coach is not None:
            with self._lock:
                for prompt in self.coach.on_start():
                    self.prompts.append(prompt)
                    self._publish(prompt)
                    self.recorder.prompt(prompt)
        if with_audio:
            from voice.transcribe import TranscriptionWorker

            self.worker = TranscriptionWorker(
                self.parts.speech,
                self.call_sid,
                self.add_utterance,
                max_queue_chunks=self.parts.asr_queue_chunks,
                skip_silence=self.parts.asr_vad_gate,
                end_silence_s=self.parts.asr_end_silence_s,
                partial_interval_s=self.parts.asr_partial_interval_s,
                pool=self.parts.decoder,
                delay_warn_s=self.parts.asr_lag_warn_s,
                on_delay=self._transcript_delay,
            )

    def _transcript_delay(self, lag_s: float, delayed: bool) -> None:
        """Say so when decoding falls behind on this call, and when it has caught up."""
        dropped = int(self.worker.stats["chunks_dropped"]) if self.worker else 0
        if delayed:
            counters.incr("asr.delayed_calls")
            log.warning("call %s: transcript delayed: ASR lag %.1f s, %d chunk(s) dropped",
                        self.call_sid, lag_s, dropped)
        else:
            log.info("call %s: transcript caught up (%d chunk(s) dropped)", self.call_sid,
                     dropped)
        self.parts.publisher.publish(self.desk, "transcript_delay", {
            "call_sid": self.call_sid, "delayed": delayed, "lag_s": round(lag_s, 2),
            "dropped": dropped})

    def asr_status(self) -> dict[str, Any] | None:
        """This call's ASR lag, backlog and drops (None without a transcription worker)."""
        if self.worker is None:
            return None
        stats = self.worker.stats
        return {"lag_s": round(self.worker.lag_s, 3), "delayed": self.worker.delayed,
                "max_lag_s": stats["max_lag_s"], "dropped": int(stats["chunks_dropped"]),
                "chunks_in": int(stats["chunks_in"])}

    def feed_audio(self, speaker: Speaker, pcm8k: np.ndarray, t: float) -> FeedResult:
        """Queue 8 kHz PCM of one track for transcription; says why when it was not taken."""
        if self._ended:
            return FeedResult.ENDED
        if self.worker is None:
            return FeedResult.NO_SPEECH_MODEL
        if self.worker.submit(speaker, pcm8k, t):
            return FeedResult.ACCEPTED
        if self._ended:  # ended (and the worker closed) while we were submitting
            return FeedResult.ENDED
        counters.incr("asr.chunks_dropped")
        return FeedResult.QUEUE_FULL

    def hand_over(self) -> None:
        """A newer stream took over this call: stop decoding here, keep the call open."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
        if self.worker is not None:
            self.worker.close()
            self.worker.release_audio()
        with self._lock:
            self._finished = True
        self._on_end(self)

    def end(self, status: EndStatus = "completed") -> bool:
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
            if self.worker is not None:
                self.worker.release_audio()
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
        self._on_end(self)
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
        began = time.perf_counter()
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
                observe_prompt_latency(time.perf_counter() - began)
                self.recorder.prompt(prompt)

    def _score(self, utterance: Utterance) -> FrustrationState | None:
        if self.frustration is None or not utterance.text.strip():
            return None
        began = time.perf_counter()
        try:
            return self.frustration.observe(utterance)
        except Exception:
            counters.incr("frustration.errors")
            log.exception("call %s: frustration stage failed", self.call_sid)
            return None
        finally:
            observe_frustration_scoring(time.perf_counter() - began)

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
        self.parts.publisher.publish(self.desk, kind, data)
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:
                counters.incr("calls.listener_errors")
                log.exception("call %s: a listener failed on %s", self.call_sid, kind)

    # --- the end of the call -------------------------------------------------------

    def _summary(self) -> tuple[dict[str, Any], bool, tuple[str, ...]]:
        summary: dict[str, Any] = {}
        flagged = False
        reasons: tuple[str, ...] = ()
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
