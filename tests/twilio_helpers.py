"""Test helpers for the Twilio stream: a signed WebSocket client and a scripted ASR engine.

``StreamClient`` plays Twilio's side of a Media Stream over a real loopback
WebSocket (websocket-client), sending frames from ``voice.twilio.protocol``'s
``FrameBuilder``; its ``start`` carries the call's stream token in
``customParameters`` as the voice webhook's TwiML would have it.
``ScriptedEngine`` stands in for Vosk at the edge, for the fast tests: it
"recognises" one final utterance per second of audio fed, so a test can see
what a call kept without loading a real model.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import websocket
from twilio.request_validator import RequestValidator

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


def wait_for(predicate, timeout: float = 30.0, every: float = 0.05) -> bool:  # noqa: ANN001
    """Poll ``predicate`` until it is truthy or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


class _ScriptedRecognizer:
    """Answers like a KaldiRecognizer: a final result for each second of audio."""

    def __init__(self, rate: int, speaker_hint: str) -> None:
        self.rate = rate
        self.fed = 0
        self.emitted = 0
        self.hint = speaker_hint

    def AcceptWaveform(self, data: bytes) -> bool:  # noqa: N802  (Vosk's name)
        self.fed += len(data) // 2
        return self.fed // self.rate > self.emitted

    def Result(self) -> str:  # noqa: N802
        self.emitted += 1
        start, end = self.emitted - 1 + 0.1, self.emitted - 0.1
        word = f"{self.hint}{self.emitted}"
        return json.dumps({"text": word, "result": [
            {"word": word, "start": start, "end": end, "conf": 1.0}]})

    def PartialResult(self) -> str:  # noqa: N802
        return json.dumps({"partial": ""})

    def FinalResult(self) -> str:  # noqa: N802
        return json.dumps({"text": ""})


@dataclass
class ScriptedEngine:
    """A stand-in SpeechEngine for fast tests (8 kHz, no resampling)."""

    sample_rate: int = 8000
    path: Path = Path("scripted")
    load_seconds: float = 0.0
    endpoint_rules: dict = field(default_factory=dict)
    made: int = 0

    @property
    def name(self) -> str:
        """Shown by /healthz."""
        return "scripted"

    def new_recognizer(self) -> _ScriptedRecognizer:
        """One per track; words are named 'w1', 'w2' … per second of audio."""
        self.made += 1
        return _ScriptedRecognizer(self.sample_rate, "w")

    def acquire(self) -> PooledRecognizer:
        """A new recognizer for every track (the scripted engine keeps no spares)."""
        return PooledRecognizer(self.new_recognizer())

    def give_back(self, rec: PooledRecognizer) -> None:
        """Spares are not kept."""
