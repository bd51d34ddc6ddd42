"""``WS /twilio/stream``: one Twilio Media Stream in, one live call fed.

Owns the WebSocket loop: the upgrade is signature-checked before the socket is
accepted; then ``connected`` → ``start`` (its ``customParameters.token`` must be
the stream token the voice webhook minted for its ``callSid``, else the socket is
closed with nothing opened or recorded; then it opens the live call; the
inbound track is the caller, the outbound track the receptionist) → ``media`` (mu-law
decoded to PCM16 and fed to the call at its call time) → ``mark``/``dtmf``
(logged) → ``stop`` (the call ends "completed").

Bad input never ends the process or touches other calls: each problem gets a
log line naming the call and a ``twilio.stream.<code>`` counter, the frame is
skipped and the call keeps what it already has.  A client that vanishes
without ``stop`` (or breaks the frame-size limit, which closes the socket)
ends its call "interrupted".
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from flask import request
from simple_websocket import ConnectionClosed

from voice.audio import mulaw_decode
from voice.calls import FeedResult, now_iso
from voice.events import CallStarted
from voice.extensions import sock
from voice.logsafe import mask_number
from voice.metrics import counters
from voice.services import current_services
from voice.twilio import bp
from voice.twilio.protocol import (
    SPEAKER_OF_TRACK,
    Connected,
    Dtmf,
    Frame,
    Mark,
    Media,
    ProtocolError,
    SequenceTracker,
    Start,
    Stop,
    parse_frame,
)
from voice.twilio.signature import (
    STREAM_TOKEN_PARAMETER,
    require_websocket_signature,
    stream_token_problem,
)

if TYPE_CHECKING:
    from voice.calls import LiveCall
    from voice.services import Services

log = logging.getLogger(__name__)

RECEIVE_POLL_S = 0.5
LOGGED_PER_PROBLEM = 5
CLOSE_POLICY_VIOLATION = 1008


@bp.before_request
def _check_upgrade_signature() -> None:
    """Refuse an unsigned upgrade with 403 before flask-sock accepts the socket."""
    if request.endpoint == "twilio.media_stream":
        require_websocket_signature()


@sock.route("/stream", bp=bp)
def media_stream(ws: Any) -> None:
    """Serve one Media Stream until ``stop`` or the socket closes."""
    StreamConnection(current_services(), ws).run()


def closed_for_size(ws: Any) -> bool:
    """Whether simple-websocket closed this socket for a message over its size limit.

    simple-websocket answers an oversized message with close code 1009 and ends
    the connection; the only trace it leaves is its running message length.
    """
    limit: int = getattr(ws, "max_message_size", None) or 0
    return limit > 0 and getattr(ws, "incoming_message_len", 0) > limit


class StreamConnection:
    """One Media Streams WebSocket: frames in, audio to the live call."""

    def __init__(self, svc: Services, ws: Any) -> None:
        self.services = svc
        self.ws = ws
        self.max_bytes = svc.config.max_frame_bytes
        self.start_timeout_s = svc.config.stream_start_timeout_s
        self.sequence = SequenceTracker()
        self.start: Start | None = None
        self.call: LiveCall | None = None
        self.stopped = False
        self.refused_call_sid: str | None = None
        self.audio_ok = True
        self.frames = 0
        self.media_frames = 0
        self.dropped = 0
        self.problems: Counter[str] = Counter()

    @property
    def call_sid(self) -> str:
        """The call this stream carries ("-" until ``start``)."""
        return self.start.call_sid if self.start else "-"

    def run(self) -> None:
        """Read frames until ``stop``, a closed socket or a client that never starts."""
        start_by = time.monotonic() + self.start_timeout_s
        try:
            while not self.stopped:
                text = self.ws.receive(timeout=RECEIVE_POLL_S)
                if text is not None:
                    self.handle(text)
                elif not self.ws.connected:
                    break  # closed without waking receive() (simple-websocket's 1009 path)
                if self.start is None and not self.stopped and time.monotonic() > start_by:
                    # whatever else it sent (marks, media, junk): no start, no stream
                    self.problem("no_start",
                                 f"no start message within {self.start_timeout_s:g} s")
                    self.close_socket("no start message")
                    break
        except ConnectionClosed:
            pass
        except Exception:
            counters.incr("twilio.stream.errors")
            log.exception("call %s: the stream loop failed", self.call_sid)
        finally:
            self.finish()

    def handle(self, text: str | bytes) -> None:
        """Parse and act on one message; problems are logged, counted and skipped."""
        self.frames += 1
        counters.incr("twilio.frames_received")
        try:
            frame = parse_frame(text, self.max_bytes)
        except ProtocolError as exc:
            self.problem(exc.code, f"{exc.detail} (frame {self.frames})")
            return
        except Exception as exc:  # whatever a frame does to the parser, the call goes on
            self.problem("unparseable", f"{exc.__class__.__name__} (frame {self.frames})")
            return
        gap = self.sequence.observe(getattr(frame, "sequence_number", None))
        if gap is not None:
            self.problem("sequence_gap", f"expected sequenceNumber {gap.expected}, got "
                         f"{gap.got} ({gap.missing} missing)")
        try:
            self.dispatch(frame)
        except Exception:
            counters.incr("twilio.stream.errors")
            log.exception("call %s: handling a %s message failed", self.call_sid,
                          type(frame).__name__.lower())

    def dispatch(self, frame: Frame) -> None:
        """Act on one parsed message."""
        if isinstance(frame, Media):
            self.on_media(frame)
        elif isinstance(frame, Start):
            self.on_start(frame)
        elif isinstance(frame, Stop):
            self.on_stop(frame)
        elif isinstance(frame, Mark):
            log.info("call %s: mark %r", self.call_sid, frame.name)
        elif isinstance(frame, Dtmf):
            log.info("call %s: caller pressed a key", self.call_sid)  # digits can be PHI
        elif isinstance(frame, Connected):
            log.debug("stream connected: protocol %s %s", frame.protocol, frame.version)

    def on_start(self, frame: Start) -> None:
        """Open the live call (or take it over from an older stream)."""
        if self.start is not None:
            self.problem("duplicate_start", f"second start for stream {frame.stream_sid}")
            return
        problem = self.call_token_problem(frame)
        if problem is not None:
            self.refuse(frame, problem)
            return
        ended = self.ended_status(frame.call_sid)
        if ended is not None:
            self.refuse(frame, f"the call has already ended ({ended}); a finished call "
                        "stays finished", code="call_ended")
            return
        svc = self.services
        params = frame.custom_parameters
        started = CallStarted(
            call_sid=frame.call_sid,
            from_number=params.get("from", ""),
            to_number=params.get("to", ""),
            desk=params.get("desk") or svc.config.desk_name,
            started_at=now_iso(),
            transcribed=svc.speech is not None,
        )
        self.call = svc.calls.open(started, stream_sid=frame.stream_sid)
        self.start = frame
        if not frame.media_format.is_phone_mulaw:  # logged once the call sid is known
            self.audio_ok = False
            self.problem("unsupported_format", f"{frame.media_format}; audio is ignored")
        counters.incr("twilio.streams_started")
        log.info("call %s: stream %s started (tracks %s, from %s)", frame.call_sid,
                 frame.stream_sid, "+".join(frame.tracks), mask_number(started.from_number))

    def call_token_problem(self, frame: Start) -> str | None:
        """Why this ``start`` may not open its call, or None when its token is right.

        The upgrade signature is the same for every call, so the per-call token is
        what stops a replayed signature from opening (or taking over) any call.
        Skipped, like signatures, when the webhooks are open (insecure development).
        """
        config = self.services.config
        if config.webhooks_open:
            return None
        token = frame.custom_parameters.get(STREAM_TOKEN_PARAMETER)
        if not token:
            return f"no {STREAM_TOKEN_PARAMETER!r} custom parameter"
        problem = stream_token_problem(config.twilio_auth_token, frame.call_sid, token)
        if problem is not None:
            return f"the {STREAM_TOKEN_PARAMETER!r} custom parameter: {problem}"
        return None

    def ended_status(self, call_sid: str) -> str | None:
        """How the call ended, when its record says it has; None for a new or live call."""
        try:
            status = self.services.store.call_status(call_sid)
        except Exception as exc:  # the database is down: the record writer copes later
            log.warning("call %s: could not read the call's status: %s", call_sid,
                        exc.__class__.__name__)
            return None
        return status if status not in (None, "live") else None

    def refuse(self, frame: Start, problem: str, code: str = "bad_call_token") -> None:
        """Close the socket without opening the call: nothing is recorded."""
        self.stopped = True
        self.refused_call_sid = frame.call_sid
        counters.incr(f"twilio.stream.{code}")
        log.warning("call %s: refused stream %s from %s: %s; closing the socket without "
                    "opening the call", frame.call_sid, frame.stream_sid,
                    request.remote_addr, problem)
        self.close_socket("the call has ended" if code == "call_ended"
                          else "stream token does not match the call")

    def close_socket(self, message: str) -> None:
        """Close the WebSocket with a policy-violation code (1008)."""
        try:
            self.ws.close(reason=CLOSE_POLICY_VIOLATION, message=message)
        except (ConnectionClosed, OSError):
            pass

    def on_media(self, frame: Media) -> None:
        """Decode one chunk and feed it to the call at its call time."""
        if self.call is None or self.start is None:
            self.problem("media_before_start", f"{frame.track} chunk {frame.chunk} "
                         f"of stream {frame.stream_sid} before start")
            return
        if frame.stream_sid != self.start.stream_sid:
            self.problem("wrong_stream", f"media for stream {frame.stream_sid}")
            return
        if not self.audio_ok or not frame.payload:
            return
        self.media_frames += 1
        pcm = mulaw_decode(frame.payload)
        result = self.call.feed_audio(SPEAKER_OF_TRACK[frame.track], pcm, frame.timestamp / 1000)
        if result is not FeedResult.ACCEPTED:
            self.on_refused(result)

    def on_refused(self, result: FeedResult) -> None:
        """The call did not take a chunk: decoding fell behind, or the call ended elsewhere.

        A full transcription queue drops this chunk only (the call counts it in
        ``asr.chunks_dropped``); a call ended by a status callback or a newer
        stream takes no more audio, so the rest of this stream is ignored.
        """
        if result is FeedResult.QUEUE_FULL:
            if not self.dropped:
                log.warning("call %s: transcription is falling behind; audio is being "
                            "dropped", self.call_sid)
            self.dropped += 1
            return
        self.audio_ok = False
        log.info("call %s: the call takes no more audio (%s: ended by a status callback or a "
                 "newer stream); ignoring the rest of this stream", self.call_sid, result.value)

    def on_stop(self, frame: Stop) -> None:
        """The stream is over: end the call as completed."""
        self.stopped = True
        if self.call is None:
            self.problem("stop_before_start", f"stop for stream {frame.stream_sid} before start")
            return
        counters.incr("twilio.streams_completed")
        self.call.end("completed")

    def problem(self, code: str, detail: str) -> None:
        """Count and log one bad input (the first few of each kind per stream)."""
        self.problems[code] += 1
        counters.incr(f"twilio.stream.{code}")
        if self.problems[code] <= LOGGED_PER_PROBLEM:
            log.warning("call %s: bad stream input [%s]: %s", self.call_sid, code, detail)

    def finish(self) -> None:
        """Close the call if the stream ended without ``stop``; log a summary."""
        if closed_for_size(self.ws):
            limit = getattr(self.ws, "max_message_size", 0)
            self.problem("too_large", f"a message over the {limit}-byte transport limit; "
                         "the socket was closed (1009)")
        if self.call is not None and not self.stopped:
            counters.incr("twilio.streams_interrupted")
            log.warning("call %s: stream ended without stop after %d messages; "
                        "the call is closed as interrupted", self.call_sid, self.frames)
            self.call.end("interrupted")
        log.info("call %s: stream closed: %d messages, %d media, %d dropped, problems %s",
                 self.refused_call_sid or self.call_sid, self.frames, self.media_frames,
                 self.dropped, dict(self.problems) or "none")
