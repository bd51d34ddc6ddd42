"""Typed messages that flow between the stages of one call.

Every stage speaks in these frozen dataclasses and nothing else: ingress produces
``CallStarted``/``CallEnded``, transcription produces ``Utterance`` (with the
acoustic ``AudioFeatures`` of its span), the frustration stage produces
``FrustrationState`` and the coach produces ``Prompt``.

The wire contract lives here too: each event's ``to_wire()`` is the one JSON shape
the console sees for it, whether it arrives live (the bus, then SSE) or inside a
``snapshot`` rebuilt from the call records; ``event_payload`` pairs it with the SSE
event name.  The page reads exactly these keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard, get_args

PHONE_RATE = 8000
"""The telephone sample rate (Hz): Twilio's mu-law media and every simulated call."""

Speaker = Literal["caller", "receptionist"]
"""Who said an utterance: the caller (Twilio's inbound track) or the receptionist."""
SPEAKERS: tuple[Speaker, ...] = get_args(Speaker)
CALLER: Speaker = "caller"
RECEPTIONIST: Speaker = "receptionist"

Level = Literal["calm", "tense", "upset", "escalating"]
"""The call-level frustration, lowest first."""
LEVELS: tuple[Level, ...] = get_args(Level)

CardKind = Literal["calm", "listen", "empathize", "confirm", "own", "next_step", "close", "coach"]
"""What a prompt card is about; each kind's title for the page is in prompts/stages.yaml."""
CARD_KINDS: tuple[CardKind, ...] = get_args(CardKind)

EndStatus = Literal["completed", "interrupted", "failed", "busy", "no-answer", "canceled"]
"""How a call ended: ours (completed, interrupted, failed) or Twilio's final call statuses."""
END_STATUSES: tuple[EndStatus, ...] = get_args(EndStatus)

CallStatus = Literal["live"] | EndStatus
"""A call record's status: live until it ends."""


def level_rank(level: Level) -> int:
    """The level's place in ``LEVELS`` (calm is 0)."""
    return LEVELS.index(level)


def is_speaker(value: object) -> TypeGuard[Speaker]:
    """Whether ``value`` is one of ``SPEAKERS``."""
    return value in SPEAKERS


def is_level(value: object) -> TypeGuard[Level]:
    """Whether ``value`` is one of ``LEVELS``."""
    return value in LEVELS


def is_end_status(value: object) -> TypeGuard[EndStatus]:
    """Whether ``value`` is one of ``END_STATUSES``."""
    return value in END_STATUSES


@dataclass(frozen=True)
class Word:
    """One recognised word with its timing (seconds of call time) and confidence."""

    text: str
    start: float
    end: float
    conf: float = 1.0

    def to_wire(self) -> dict[str, Any]:
        """The word as JSON: ``text``, ``start``, ``end``, ``conf``."""
        return {"text": self.text, "start": self.start, "end": self.end, "conf": self.conf}


@dataclass(frozen=True)
class AudioFeatures:
    """How an utterance sounded, measured on its own track's PCM.

    ``rms_dbfs``/``pitch_hz`` are absolute; the frustration stage compares them
    with the speaker's running baseline.  ``overlap_s`` is how long the other
    track was talking during this utterance; ``silence_before_s`` the gap since
    the other speaker stopped.
    """

    rms_dbfs: float
    pitch_hz: float | None = None
    speech_rate_wps: float | None = None
    overlap_s: float = 0.0
    silence_before_s: float = 0.0


@dataclass(frozen=True)
class CallStarted:
    """A call has begun streaming (or a simulated call has begun playing)."""

    call_sid: str
    from_number: str = ""
    to_number: str = ""
    desk: str = "front-desk"
    started_at: str = ""  # ISO-8601 UTC
    simulated: bool = False
    transcribed: bool = True

    def to_wire(self) -> dict[str, Any]:
        """The ``call_started`` data: the numbers say ``from``/``to``, as the records do."""
        return {
            "call_sid": self.call_sid,
            "from": self.from_number,
            "to": self.to_number,
            "desk": self.desk,
            "started_at": self.started_at,
            "simulated": self.simulated,
            "transcribed": self.transcribed,
        }


@dataclass(frozen=True)
class Utterance:
    """A partial or final stretch of one speaker's speech."""

    call_sid: str
    speaker: Speaker
    text: str
    t_start: float
    t_end: float
    final: bool
    words: tuple[Word, ...] = ()
    audio: AudioFeatures | None = None

    def to_wire(self) -> dict[str, Any]:
        """The ``transcript`` data (the acoustic features stay on the server)."""
        return {
            "call_sid": self.call_sid,
            "speaker": self.speaker,
            "text": self.text,
            "t_start": self.t_start,
            "t_end": self.t_end,
            "final": self.final,
            "words": [w.to_wire() for w in self.words],
        }


@dataclass(frozen=True)
class FrustrationState:
    """The call-level frustration after the latest caller utterance."""

    call_sid: str
    score: float
    level: Level
    trend: float
    rising: bool
    reasons: tuple[str, ...] = ()
    t: float = 0.0
    utterance_score: float | None = None

    def to_wire(self) -> dict[str, Any]:
        """The ``frustration`` data: the meter's score, level, trend and reasons."""
        return {
            "call_sid": self.call_sid,
            "score": self.score,
            "level": self.level,
            "trend": self.trend,
            "rising": self.rising,
            "reasons": list(self.reasons),
            "t": self.t,
            "utterance_score": self.utterance_score,
        }


@dataclass(frozen=True)
class Prompt:
    """A coaching card for the receptionist."""

    call_sid: str
    id: str
    kind: CardKind
    text: str
    why: str
    t: float = 0.0

    def to_wire(self) -> dict[str, Any]:
        """The ``prompt`` data: one card."""
        return {"call_sid": self.call_sid, "id": self.id, "kind": self.kind, "text": self.text,
                "why": self.why, "t": self.t}


@dataclass(frozen=True)
class CallEnded:
    """The call is over; ``status`` is completed, interrupted, failed …"""

    call_sid: str
    status: EndStatus = "completed"
    ended_at: str = ""
    flagged: bool = False
    flag_reasons: tuple[str, ...] = field(default_factory=tuple)

    def to_wire(self) -> dict[str, Any]:
        """The ``call_ended`` data."""
        return {"call_sid": self.call_sid, "status": self.status, "ended_at": self.ended_at,
                "flagged": self.flagged, "flag_reasons": list(self.flag_reasons)}


@dataclass(frozen=True)
class PromptUpdate:
    """A receptionist ticked a card done or dismissed it (told to the desk's consoles)."""

    call_sid: str
    id: str
    status: str
    by: str

    def to_wire(self) -> dict[str, Any]:
        """The ``prompt_update`` data."""
        return {"call_sid": self.call_sid, "id": self.id, "status": self.status, "by": self.by}


CallEvent = CallStarted | Utterance | FrustrationState | Prompt | CallEnded
WireEvent = CallEvent | PromptUpdate

EventType = Literal["call_started", "transcript", "frustration", "prompt", "call_ended",
                    "prompt_update"]
"""The SSE event names the console listens for (besides ``snapshot``)."""

_EVENT_TYPES: dict[type, EventType] = {
    CallStarted: "call_started",
    Utterance: "transcript",
    FrustrationState: "frustration",
    Prompt: "prompt",
    CallEnded: "call_ended",
    PromptUpdate: "prompt_update",
}


def event_type(event: WireEvent) -> EventType:
    """The SSE event name of an event (``transcript``, ``prompt`` …)."""
    return _EVENT_TYPES[type(event)]


def event_payload(event: WireEvent) -> tuple[EventType, dict[str, Any]]:
    """Return ``(type, data)`` for the bus and the SSE stream; data is ``to_wire()``."""
    return event_type(event), event.to_wire()
