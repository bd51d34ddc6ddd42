"""Test helpers for the Twilio stream: a signed WebSocket client and a scripted ASR engine.

``StreamClient`` plays Twilio's side of a Media Stream over a real loopback
WebSocket (websocket-client), sending frames from ``voice.tools.frames``'
``FrameBuilder``; its ``start`` carries the call's stream token in
``customParameters`` as the voice webhook's TwiML would have it.
``ScriptedEngine`` stands in for Vosk at the edge, for the fast tests: it
"recognises" one final utterance per second of audio fed, named after the voice
that audio came from (``caller3``, ``receptionist2``), so a test can see what a
call kept, and on which track, without loading a real model.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import websocket
from audio_fixtures import CALLER_WAV, RECEPTIONIST_WAV, read_mulaw_wav
from twilio.request_validator import RequestValidator

from voice.audio import mulaw_decode
from voice.tools.frames import FrameBuilder
from voice.transcribe import PooledRecognizer
from voice.twilio.signature import call_stream_token

TOKEN = "test-auth-token"
STREAM_URL = "wss://coach.example.com/twilio/stream"
DEFAULT_PARAMS = {"from": "+15550001", "to": "+15550100", "desk": "front-desk"}
OWN_TOKEN = "<this call's stream token>"  # a stand-in: StreamClient sends the real one


def stream_headers(url: str = STREAM_URL, token: str = TOKEN) -> dict[str, str]:
    """The X-Twilio-Signature header Twilio sends on the upgrade to ``url``."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, {})}


class StreamClient:
    """Twilio's end of one Media Stream, over a real WebSocket."""

    def __init__(self, server_url: str, call_sid: str, headers: dict | None = None,
                 auth_token: str = TOKEN) -> None:
        self.builder = FrameBuilder(call_sid)
        self.call_sid = call_sid
        self.token = call_stream_token(auth_token, call_sid)
        ws_url = server_url.replace("http://", "ws://") + "/twilio/stream"
        self.ws = websocket.create_connection(ws_url, header=headers or stream_headers(),
                                              timeout=30)

    def send(self, text: str | bytes) -> None:
        """Send one raw message (text, or bytes as a binary frame)."""
        if isinstance(text, bytes):
            self.ws.send_binary(text)
        else:
            self.ws.send(text)

    def start_message(self, token: str | None = OWN_TOKEN, **params: str) -> str:
        """The ``start`` message: ``params`` (or the defaults) plus the stream token.

        ``token`` defaults to this call's; ``None`` leaves it out, any other
        string is sent as it is.
        """
        custom = dict(params or DEFAULT_PARAMS)
        if token is not None:
            custom["token"] = self.token if token == OWN_TOKEN else token
        return self.builder.start(custom)

    def begin(self, token: str | None = OWN_TOKEN, **params: str) -> None:
        """``connected`` then ``start`` with custom parameters (see ``start_message``)."""
        self.send(self.builder.connected())
        self.send(self.start_message(token, **params))

    def play(self, inbound: bytes, outbound: bytes, pace: float = 0.0,
             until_s: float | None = None) -> int:
        """Send both tracks as 20 ms media messages; ``pace`` 1.0 = real time. Returns count."""
        if until_s is not None:
            inbound, outbound = inbound[: int(until_s * 8000)], outbound[: int(until_s * 8000)]
        began, sent = time.perf_counter(), 0
        for t, text in self.builder.call_media(inbound, outbound):
            if pace:
                delay = began + t / pace - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            self.send(text)
            sent += 1
        return sent

    def stop(self) -> None:
        """Send ``stop`` and wait until the server closes the socket."""
        self.send(self.builder.stop())
        self.wait_closed()

    def wait_closed(self, timeout: float = 60.0) -> None:
        """Block until the server closes the socket (the call is fully processed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                opcode, _ = self.ws.recv_data(control_frame=True)
            except (websocket.WebSocketConnectionClosedException, OSError):
                return
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return
        raise TimeoutError("the server did not close the stream")

    def vanish(self) -> None:
        """Drop the TCP connection without ``stop`` or a close frame."""
        self.ws.sock.close()


def close_code(client: StreamClient) -> int | None:
    """The status code of the close frame the server sends (None if it just hung up)."""
    try:
        opcode, data = client.ws.recv_data(control_frame=True)
    except (websocket.WebSocketConnectionClosedException, OSError):
        return None
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    return int.from_bytes(data[:2], "big")


def wait_for(predicate, timeout: float = 30.0, every: float = 0.05) -> bool:  # noqa: ANN001
    """Poll ``predicate`` until it is truthy or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


def voices_of_the_recordings() -> dict[str, bytes]:
    """The committed conversation as the scripted engine hears it: 8 kHz int16 bytes per voice."""
    return {speaker: mulaw_decode(read_mulaw_wav(path)[0]).tobytes()
            for speaker, path in (("caller", CALLER_WAV), ("receptionist", RECEPTIONIST_WAV))}


class _ScriptedRecognizer:
    """Answers like a KaldiRecognizer: a final result for each second of audio.

    Each result is named after the voice it was heard from: the loudest 20 ms of
    the audio fed since the last result is looked up in the engine's reference
    recordings, so the caller's audio is heard as ``caller1``, ``caller2`` … and
    the receptionist's as ``receptionist1`` … on whichever track it arrives.
    Audio the engine does not know is heard as ``w1``, ``w2`` ….
    """

    def __init__(self, engine: ScriptedEngine) -> None:
        self.engine = engine
        self.rate = engine.sample_rate
        self.fed = 0
        self.emitted = 0
        self.heard = bytearray()  # audio fed since the last result
        self.voice = ""

    def AcceptWaveform(self, data: bytes) -> bool:  # noqa: N802  (Vosk's name)
        self.fed += len(data) // 2
        self.heard += data
        return self.fed // self.rate > self.emitted

    def Result(self) -> str:  # noqa: N802
        self.emitted += 1
        self.voice = self.engine.voice_of(bytes(self.heard)) or self.voice
        self.heard.clear()
        text = self.engine.line(self.voice, self.emitted)
        words = text.split()
        start, end = self.emitted - 1 + 0.1, self.emitted - 0.1
        step = (end - start) / len(words)
        return json.dumps({"text": text, "result": [
            {"word": word, "start": round(start + i * step, 3),
             "end": round(start + (i + 1) * step, 3), "conf": 1.0}
            for i, word in enumerate(words)]})

    def PartialResult(self) -> str:  # noqa: N802
        return json.dumps({"partial": ""})

    def FinalResult(self) -> str:  # noqa: N802
        """Like Vosk: the result of what was fed since the last one (empty if only silence)."""
        if not np.abs(np.frombuffer(bytes(self.heard), np.int16)).any():
            self.heard.clear()
            return json.dumps({"text": ""})
        return self.Result()


FRAME_BYTES = 320  # 20 ms of 8 kHz int16


@dataclass
class ScriptedEngine:
    """A stand-in SpeechEngine for fast tests (8 kHz, no resampling).

    ``voices`` maps a speaker to reference audio (8 kHz int16 bytes; by default
    the committed conversation); ``lines`` optionally gives what each voice
    says, one line per second of its audio (past the end: ``caller7`` …).
    """

    sample_rate: int = 8000
    path: Path = Path("scripted")
    load_seconds: float = 0.0
    endpoint_rules: dict = field(default_factory=dict)
    made: int = 0
    voices: dict[str, bytes] = field(default_factory=voices_of_the_recordings)
    lines: dict[str, list[str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Shown by /healthz."""
        return "scripted"

    def new_recognizer(self) -> _ScriptedRecognizer:
        """One per track."""
        self.made += 1
        return _ScriptedRecognizer(self)

    def acquire(self) -> PooledRecognizer:
        """A new recognizer for every track (the scripted engine keeps no spares)."""
        return PooledRecognizer(self.new_recognizer())

    def give_back(self, rec: PooledRecognizer) -> None:
        """Spares are not kept."""

    def voice_of(self, pcm: bytes) -> str:
        """Which reference voice ``pcm`` comes from ('' when unknown or ambiguous)."""
        frames = [pcm[i:i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1,
                                                        FRAME_BYTES)]
        if not frames:
            return ""
        loudest = max(frames, key=lambda f: float(np.abs(np.frombuffer(f, np.int16)).sum()))
        found = [speaker for speaker, audio in self.voices.items() if loudest in audio]
        return found[0] if len(found) == 1 else ""

    def line(self, voice: str, n: int) -> str:
        """What ``voice`` says in its ``n``-th second (1-based)."""
        said = self.lines.get(voice, [])
        return said[n - 1] if n <= len(said) else f"{voice or 'w'}{n}"


def heard_as(speaker: str, count: int) -> list[str]:
    """The scripted engine's words for ``count`` seconds of ``speaker``'s recording."""
    return [f"{speaker}{n}" for n in range(1, count + 1)]
