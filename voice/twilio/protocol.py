"""The Twilio Media Streams wire protocol: JSON text in, typed frames out.

Owns the shape of the messages Twilio sends over a Media Streams WebSocket
(``connected``, ``start``, ``media``, ``mark``, ``dtmf``, ``stop``; field names
as in Twilio's "Media Streams - WebSocket Messages" page), the ``ProtocolError``
codes for input that does not fit, and a ``SequenceTracker`` that notices lost
or reordered messages.  Writing such frames (for tests, ``voice simulate
--audio`` and the load benchmark) is ``voice.tools.frames``'s job.

Pure: no I/O, no Flask, no knowledge of the stages after ingress.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from voice.events import PHONE_RATE, Speaker

DEFAULT_MAX_FRAME_BYTES = 64 * 1024
Track = Literal["inbound", "outbound"]
TRACKS: tuple[Track, ...] = ("inbound", "outbound")
SPEAKER_OF_TRACK: dict[Track, Speaker] = {"inbound": "caller", "outbound": "receptionist"}
TRACK_OF_SPEAKER: dict[Speaker, Track] = {s: t for t, s in SPEAKER_OF_TRACK.items()}
PHONE_ENCODING = "audio/x-mulaw"


class ProtocolError(ValueError):
    """A frame that does not follow the Media Streams protocol.

    ``code`` is short and stable (``bad_json``, ``unknown_event``, ``bad_base64``,
    ``too_large``, ``missing_field``, ``bad_field``, ``bad_track``, ``not_text``)
    so callers can count it; ``detail`` says what exactly was wrong.
    """

    def __init__(self, code: str, detail: str, event: str | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.event = event


@dataclass(frozen=True)
class MediaFormat:
    """The audio format a stream announces in its ``start`` message."""

    encoding: str = PHONE_ENCODING
    sample_rate: int = PHONE_RATE
    channels: int = 1

    @property
    def is_phone_mulaw(self) -> bool:
        """Whether this is the 8 kHz mono mu-law Twilio always sends."""
        return (self.encoding, self.sample_rate, self.channels) == (PHONE_ENCODING, PHONE_RATE, 1)


@dataclass(frozen=True)
class Connected:
    """First message on a new socket: names the protocol and its version."""

    protocol: str
    version: str
    sequence_number: int | None = None


@dataclass(frozen=True)
class Start:
    """Stream metadata, sent once right after ``connected``."""

    sequence_number: int | None
    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[Track, ...]
    media_format: MediaFormat
    custom_parameters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Media:
    """One chunk of audio of one track; ``timestamp`` is ms since the stream began."""

    sequence_number: int | None
    stream_sid: str
    track: Track
    chunk: int
    timestamp: int
    payload: bytes


@dataclass(frozen=True)
class Mark:
    """A named mark came back (bidirectional streams)."""

    sequence_number: int | None
    stream_sid: str
    name: str


@dataclass(frozen=True)
class Dtmf:
    """A key pressed on the caller's handset."""

    sequence_number: int | None
    stream_sid: str
    track: str
    digit: str


@dataclass(frozen=True)
class Stop:
    """The stream has stopped or the call has ended."""

    sequence_number: int | None
    stream_sid: str
    call_sid: str
    account_sid: str


Frame = Connected | Start | Media | Mark | Dtmf | Stop


# --- parsing -----------------------------------------------------------------------


def parse_frame(text: str | bytes, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Frame:
    """Parse one WebSocket message from Twilio into a typed frame.

    Raises ``ProtocolError`` for anything that is not a well-formed Media Streams
    message no larger than ``max_bytes``.
    """
    if len(text) > max_bytes:
        raise ProtocolError("too_large", f"{len(text)} bytes, the limit is {max_bytes}")
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("not_text", "a binary frame that is not UTF-8 text") from None
    try:
        message = json.loads(text)
    except ValueError as exc:
        where = f" at {exc.pos}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ProtocolError("bad_json", f"not JSON ({getattr(exc, 'msg', exc)}{where})") from None
    except RecursionError:
        raise ProtocolError("too_deep", "JSON nested deeper than the parser goes") from None
    if not isinstance(message, dict):
        raise ProtocolError("bad_json", f"a JSON {type(message).__name__}, not an object")
    event = message.get("event")
    parser = _PARSERS.get(event) if isinstance(event, str) else None
    if parser is None:
        raise ProtocolError("unknown_event", f"event {event!r} is not a Media Streams event")
    try:
        return parser(message)
    except ProtocolError as exc:
        exc.event = event
        raise


def _section(message: dict[str, Any], name: str) -> dict[str, Any]:
    value = message.get(name)
    if not isinstance(value, dict):
        raise ProtocolError("missing_field", f"{message['event']} message has no {name!r} object")
    return value


def _text(obj: Mapping[str, Any], key: str, where: str, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        kind = "missing_field" if value is None else "bad_field"
        raise ProtocolError(kind, f"{where}.{key} must be a non-empty string, got {value!r}")
    return value


def _integer(obj: Mapping[str, Any], key: str, where: str, required: bool = True) -> int | None:
    """Twilio sends counters as decimal strings; accept those (and plain ints)."""
    value = obj.get(key)
    if value is None:
        if required:
            raise ProtocolError("missing_field", f"{where}.{key} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ProtocolError("bad_field", f"{where}.{key} must be a number, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise ProtocolError("bad_field", f"{where}.{key} must be a number, got {value!r}") from None
    if number < 0:
        raise ProtocolError("bad_field", f"{where}.{key} must not be negative, got {number}")
    return number


def _sequence(message: dict[str, Any]) -> int | None:
    return _integer(message, "sequenceNumber", message["event"], required=False)


def _stream_sid(message: dict[str, Any], section: Mapping[str, Any] | None = None) -> str:
    sid = message.get("streamSid") or (section or {}).get("streamSid")
    if not isinstance(sid, str) or not sid:
        raise ProtocolError("missing_field", f"{message['event']} message has no streamSid")
    return sid


def _parse_connected(message: dict[str, Any]) -> Connected:
    return Connected(
        protocol=str(message.get("protocol") or ""),
        version=str(message.get("version") or ""),
        sequence_number=_sequence(message),
    )


def _parse_start(message: dict[str, Any]) -> Start:
    start = _section(message, "start")
    tracks = start.get("tracks", list(TRACKS))
    if not isinstance(tracks, list) or not all(t in TRACKS for t in tracks):
        raise ProtocolError("bad_field", f"start.tracks must list inbound/outbound, got {tracks!r}")
    fmt = start.get("mediaFormat") or {}
    if not isinstance(fmt, dict):
        raise ProtocolError("bad_field", f"start.mediaFormat must be an object, got {fmt!r}")
    params = start.get("customParameters") or {}
    if not isinstance(params, dict):
        raise ProtocolError("bad_field", "start.customParameters must be an object")
    return Start(
        sequence_number=_sequence(message),
        stream_sid=_stream_sid(message, start),
        call_sid=_text(start, "callSid", "start"),
        account_sid=_text(start, "accountSid", "start", required=False),
        tracks=tuple(tracks),
        media_format=MediaFormat(
            encoding=str(fmt.get("encoding", PHONE_ENCODING)),
            sample_rate=_integer(fmt, "sampleRate", "start.mediaFormat", False) or PHONE_RATE,
            channels=_integer(fmt, "channels", "start.mediaFormat", False) or 1,
        ),
        custom_parameters={str(k): str(v) for k, v in params.items()},
    )


def _parse_media(message: dict[str, Any]) -> Media:
    media = _section(message, "media")
    track = media.get("track")
    if track not in TRACKS:
        raise ProtocolError("bad_track", f"media.track must be inbound or outbound, got {track!r}")
    encoded = _text(media, "payload", "media", required=False)
    try:
        payload = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("bad_base64", "media.payload is not base64") from None
    return Media(
        sequence_number=_sequence(message),
        stream_sid=_stream_sid(message),
        track=track,
        chunk=_integer(media, "chunk", "media", required=False) or 0,
        timestamp=_integer(media, "timestamp", "media") or 0,
        payload=payload,
    )


def _parse_mark(message: dict[str, Any]) -> Mark:
    mark = _section(message, "mark")
    return Mark(_sequence(message), _stream_sid(message), _text(mark, "name", "mark", False))


def _parse_dtmf(message: dict[str, Any]) -> Dtmf:
    dtmf = _section(message, "dtmf")
    return Dtmf(
        sequence_number=_sequence(message),
        stream_sid=_stream_sid(message),
        track=str(dtmf.get("track") or "inbound_track"),
        digit=_text(dtmf, "digit", "dtmf"),
    )


def _parse_stop(message: dict[str, Any]) -> Stop:
    stop = message.get("stop")
    if not isinstance(stop, dict):
        stop = {}
    return Stop(
        sequence_number=_sequence(message),
        stream_sid=_stream_sid(message),
        call_sid=_text(stop, "callSid", "stop", required=False),
        account_sid=_text(stop, "accountSid", "stop", required=False),
    )


_PARSERS: dict[str, Callable[[dict[str, Any]], Frame]] = {
    "connected": _parse_connected,
    "start": _parse_start,
    "media": _parse_media,
    "mark": _parse_mark,
    "dtmf": _parse_dtmf,
    "stop": _parse_stop,
}


# --- sequence numbers --------------------------------------------------------------


@dataclass(frozen=True)
class SequenceGap:
    """Messages between ``expected`` and ``got`` never arrived (or came out of order)."""

    expected: int
    got: int

    @property
    def missing(self) -> int:
        """How many messages were skipped (0 when one came late or twice)."""
        return max(0, self.got - self.expected)


class SequenceTracker:
    """Follows ``sequenceNumber`` across one stream and reports breaks in it."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.gaps = 0
        self.missing = 0

    def observe(self, number: int | None) -> SequenceGap | None:
        """Record the next message's number; a ``SequenceGap`` when it is not last + 1."""
        if number is None:
            return None
        previous = self.last
        self.last = number if previous is None else max(previous, number)
        if previous is None or number == previous + 1:
            return None
        gap = SequenceGap(expected=previous + 1, got=number)
        self.gaps += 1
        self.missing += gap.missing
        return gap
