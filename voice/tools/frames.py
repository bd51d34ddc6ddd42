"""Twilio Media Streams frames, written as Twilio would send them (the sending side).

``FrameBuilder`` writes the JSON text of one stream's messages (``connected``,
``start``, ``media``, ``mark``, ``dtmf``, ``stop``), numbering them as Twilio
does; ``voice simulate --audio``, the tests and the load benchmark use it.  The
service itself only reads frames (``voice.twilio.protocol``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping

from voice.events import PHONE_RATE
from voice.twilio.protocol import PHONE_ENCODING, TRACKS, Track


class FrameBuilder:
    """Writes the JSON text Twilio would send for one stream, numbering as Twilio does.

    ``sequenceNumber`` counts every message after ``connected`` from 1; ``chunk``
    counts each track's media messages from 1.
    """

    def __init__(
        self,
        call_sid: str,
        stream_sid: str | None = None,
        account_sid: str = "AC" + "0" * 32,
    ) -> None:
        self.call_sid = call_sid
        self.stream_sid = stream_sid or "MZ" + call_sid[2:]
        self.account_sid = account_sid
        self.sequence = 0
        self.chunks = {track: 0 for track in TRACKS}

    def _next(self) -> str:
        self.sequence += 1
        return str(self.sequence)

    def connected(self) -> str:
        """The ``connected`` message."""
        return json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})

    def start(
        self,
        custom_parameters: Mapping[str, str] | None = None,
        tracks: tuple[str, ...] = TRACKS,
    ) -> str:
        """The ``start`` message for a mu-law 8 kHz stream of ``tracks``."""
        return json.dumps({
            "event": "start",
            "sequenceNumber": self._next(),
            "start": {
                "accountSid": self.account_sid,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": list(tracks),
                "mediaFormat": {"encoding": PHONE_ENCODING, "sampleRate": PHONE_RATE,
                                "channels": 1},
                "customParameters": dict(custom_parameters or {}),
            },
            "streamSid": self.stream_sid,
        })

    def media(self, track: Track, payload: bytes, timestamp_ms: int) -> str:
        """A ``media`` message carrying ``payload`` (raw mu-law bytes) of ``track``."""
        self.chunks[track] += 1
        return json.dumps({
            "event": "media",
            "sequenceNumber": self._next(),
            "media": {
                "track": track,
                "chunk": str(self.chunks[track]),
                "timestamp": str(timestamp_ms),
                "payload": base64.b64encode(payload).decode("ascii"),
            },
            "streamSid": self.stream_sid,
        })

    def mark(self, name: str) -> str:
        """A ``mark`` message."""
        return json.dumps({"event": "mark", "sequenceNumber": self._next(),
                           "streamSid": self.stream_sid, "mark": {"name": name}})

    def dtmf(self, digit: str) -> str:
        """A ``dtmf`` message for a key pressed by the caller."""
        return json.dumps({"event": "dtmf", "streamSid": self.stream_sid,
                           "sequenceNumber": self._next(),
                           "dtmf": {"track": "inbound_track", "digit": digit}})

    def stop(self) -> str:
        """The ``stop`` message."""
        return json.dumps({
            "event": "stop",
            "sequenceNumber": self._next(),
            "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
            "streamSid": self.stream_sid,
        })

    def call_media(
        self, inbound: bytes, outbound: bytes, chunk_ms: int = 20
    ) -> Iterator[tuple[float, str]]:
        """Media messages for both tracks of a call, interleaved as Twilio sends them.

        ``inbound``/``outbound`` are raw 8 kHz mu-law bytes (the shorter is padded
        with mu-law silence); yields ``(call time in s, JSON text)``.
        """
        step = PHONE_RATE * chunk_ms // 1000
        length = max(len(inbound), len(outbound))
        silence = b"\xff"
        for offset in range(0, length, step):
            t_ms = offset * 1000 // PHONE_RATE
            tracks: tuple[tuple[Track, bytes], ...] = (("inbound", inbound),
                                                       ("outbound", outbound))
            for track, audio in tracks:
                chunk = audio[offset:offset + step].ljust(min(step, length - offset), silence)
                yield t_ms / 1000, self.media(track, chunk, t_ms)
