"""Typed messages that flow between the stages of one call.

Every stage speaks in these frozen dataclasses and nothing else: ingress produces
``CallStarted``/``CallEnded``, transcription produces ``Utterance`` (with the
acoustic ``AudioFeatures`` of its span), the frustration stage produces
``FrustrationState`` and the coach produces ``Prompt``.  ``event_payload`` turns
any of them into the ``(type, data)`` pair the bus and the SSE stream carry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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


@dataclass(frozen=True)
class Prompt:
    """A coaching card for the receptionist."""

    call_sid: str
    id: str
    kind: CardKind
    text: str
    why: str
    t: float = 0.0


@dataclass(frozen=True)
class CallEnded:
    """The call is over; ``status`` is completed, interrupted, failed …"""

    call_sid: str
    status: EndStatus = "completed"
    ended_at: str = ""
    flagged: bool = False
    flag_reasons: tuple[str, ...] = field(default_factory=tuple)


CallEvent = CallStarted | Utterance | FrustrationState | Prompt | CallEnded

_EVENT_TYPES: dict[type, str] = {
    CallStarted: "call_started",
    Utterance: "transcript",
    FrustrationState: "frustration",
    Prompt: "prompt",
    CallEnded: "call_ended",
}


def event_type(event: CallEvent) -> str:
    """The SSE event name of a call event (``transcript``, ``prompt`` …)."""
    return _EVENT_TYPES[type(event)]


def event_payload(event: CallEvent) -> tuple[str, dict[str, Any]]:
    """Return ``(type, data)`` for the bus and the SSE stream; data is JSON-safe."""
    data = asdict(event)
    if isinstance(event, Utterance):
        data.pop("audio", None)
        data["words"] = [asdict(w) for w in event.words]
    return event_type(event), data
