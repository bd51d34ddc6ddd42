"""``voice simulate --audio``: speak a scenario and stream it as a real Twilio call.

Each turn is rendered with ``espeak-ng`` (a different voice variant and pitch
for caller and receptionist), converted to 8 kHz mono, scaled to the turn's
``loudness`` and placed at its ``at`` second on its own track (caller on the
inbound track, receptionist on the outbound one, silence elsewhere).  The two
tracks are mu-law encoded and sent as Twilio Media Streams frames
(``connected``, ``start``, ``media`` in 20 ms chunks, ``stop``) over a real
WebSocket to the running service's ``/twilio/stream``, at real-time pace
divided by the speed, with an ``X-Twilio-Signature`` on the upgrade as Twilio
would sign it and the call's stream token in the ``start`` message's
``customParameters`` as the voice webhook's TwiML would give it.  The service
transcribes the audio with its speech model, so this exercises the whole
pipeline from the socket on.

``simulate_command`` in ``voice.simulate`` owns the command line, the polling of
the call record and the output; this module renders and streams.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import numpy as np

from voice.audio import mulaw_encode, resample, rms_dbfs
from voice.events import PHONE_RATE, Speaker
from voice.scenario import Scenario, ScenarioTurn
from voice.twilio.protocol import TRACK_OF_SPEAKER, FrameBuilder
from voice.twilio.signature import STREAM_TOKEN_PARAMETER, call_stream_token

log = logging.getLogger(__name__)

STREAM_PATH = "/twilio/stream"
DEFAULT_VOICE = "en-us"
DEFAULT_LOUDNESS_DBFS = -20.0  # for turns that give no loudness
SAME_TRACK_GAP_S = 0.3  # a turn that would overlap its own track's last one waits this long
TAIL_S = 1.5  # silence after the last word, so the speech model closes the utterance
TRIM_RATIO = 0.01  # samples under 1% of the peak at either end count as silence
CLOSE_TIMEOUT_S = 60.0
ESPEAK_TIMEOUT_S = 30.0


class SimulateAudioError(click.ClickException):
    """Something ``--audio`` cannot do; the message says what to fix."""


@dataclass(frozen=True)
class VoiceStyle:
    """How one speaker sounds: an espeak-ng voice variant, pitch (0-99) and words/minute."""

    variant: str
    pitch: int
    words_per_minute: int = 165


VOICE_STYLES = {
    "caller": VoiceStyle(variant="+m3", pitch=35),
    "receptionist": VoiceStyle(variant="+f3", pitch=65),
}


# --- rendering --------------------------------------------------------------------------


def espeak_path() -> str:
    """The ``espeak-ng`` executable, or a clear error when it is not installed."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise SimulateAudioError("--audio needs espeak-ng, which is not installed here "
                                 "(Debian/Ubuntu: apt-get install espeak-ng)")
    return path


def espeak_args(voice: str, speaker: str) -> list[str]:
    """espeak-ng options for ``speaker``: the voice with its variant, pitch and rate.

    A ``voice`` that already names a variant (``en-us+f2``) keeps it; the two
    speakers then differ by pitch only.
    """
    style = VOICE_STYLES[speaker]
    name = voice if "+" in voice else voice + style.variant
    return ["-v", name, "-p", str(style.pitch), "-s", str(style.words_per_minute)]


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono 16-bit PCM and its rate from a WAV file espeak-ng wrote."""
    with wave.open(str(path), "rb") as wav:
        rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
        data = wav.readframes(wav.getnframes())
    if width != 2:
        raise SimulateAudioError(f"espeak-ng wrote {8 * width}-bit audio; expected 16-bit")
    pcm = np.frombuffer(data, dtype="<i2").astype(np.int16)
    return pcm.reshape(-1, channels)[:, 0].copy(), rate


def speak(text: str, voice: str = DEFAULT_VOICE, speaker: Speaker = "caller") -> np.ndarray:
    """``text`` spoken by espeak-ng as ``speaker``: 8 kHz int16, leading/trailing silence cut."""
    with tempfile.TemporaryDirectory(prefix="voice-espeak-") as folder:
        out = Path(folder) / "turn.wav"
        command = [espeak_path(), *espeak_args(voice, speaker), "-w", str(out), "--stdin"]
        try:
            done = subprocess.run(command, input=text.encode("utf-8"), capture_output=True,
                                  timeout=ESPEAK_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise SimulateAudioError(f"espeak-ng took over {ESPEAK_TIMEOUT_S:g} s") from None
        if done.returncode != 0 or not out.exists():
            detail = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
            raise SimulateAudioError(f"espeak-ng failed with voice {voice!r}: {detail}")
        pcm, rate = _read_wav(out)
    return trim_silence(resample(pcm, rate, PHONE_RATE))


def trim_silence(pcm: np.ndarray) -> np.ndarray:
    """``pcm`` without the near-silent samples at its start and end."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > TRIM_RATIO * 32768)
    if loud.size == 0:
        return pcm[:0]
    return pcm[loud[0]:loud[-1] + 1]


def set_loudness(pcm: np.ndarray, dbfs: float, rounds: int = 4) -> np.ndarray:
    """``pcm`` scaled so that its RMS is ``dbfs`` (re-measured after clipping loud turns)."""
    source = pcm.astype(np.float64)
    if source.size == 0 or rms_dbfs(pcm) <= -119.0:
        return pcm.copy()
    gain_db = dbfs - rms_dbfs(pcm)
    out = pcm
    for _ in range(rounds):
        out = np.clip(np.rint(source * 10 ** (gain_db / 20)), -32768, 32767).astype(np.int16)
        miss = dbfs - rms_dbfs(out)
        if abs(miss) < 0.05:
            break
        gain_db += miss
    return out


@dataclass(frozen=True)
class Placement:
    """Where one turn landed: its track and span in call seconds, and its level."""

    turn: int
    speaker: str
    track: str
    start_s: float
    end_s: float
    loudness_dbfs: float


@dataclass
class RenderedCall:
    """A scenario as two 8 kHz int16 tracks of equal length, and where each turn is."""

    inbound: np.ndarray
    outbound: np.ndarray
    placements: list[Placement] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """Length of the call audio in seconds."""
        return len(self.inbound) / PHONE_RATE

    def track(self, name: str) -> np.ndarray:
        """The PCM of ``inbound`` or ``outbound``."""
        return self.inbound if name == "inbound" else self.outbound

    def mulaw(self) -> tuple[bytes, bytes]:
        """(inbound, outbound) as the mu-law bytes a Twilio stream carries."""
        return mulaw_encode(self.inbound), mulaw_encode(self.outbound)


def _place(turn: ScenarioTurn, number: int, pcm: np.ndarray,
           track_end: dict[str, int]) -> tuple[int, Placement]:
    """The start sample of a turn: its ``at``, or later if its track is still speaking."""
    track = TRACK_OF_SPEAKER[turn.speaker]
    start = round(turn.at * PHONE_RATE)
    if track_end[track] and start < track_end[track] + SAME_TRACK_GAP_S * PHONE_RATE:
        start = track_end[track] + round(SAME_TRACK_GAP_S * PHONE_RATE)
        log.info("turn %d starts at %.2f s, not %.2f s: its track is still speaking",
                 number, start / PHONE_RATE, turn.at)
    track_end[track] = start + len(pcm)
    level = turn.loudness if turn.loudness is not None else DEFAULT_LOUDNESS_DBFS
    return start, Placement(number, turn.speaker, track, start / PHONE_RATE,
                            (start + len(pcm)) / PHONE_RATE, level)


def render_scenario(scenario: Scenario, voice: str = DEFAULT_VOICE) -> RenderedCall:
    """Speak every turn and lay the turns out on the caller and receptionist tracks."""
    pieces: list[tuple[int, np.ndarray, Placement]] = []
    track_end = {"inbound": 0, "outbound": 0}
    for number, turn in enumerate(scenario.turns, start=1):
        level = turn.loudness if turn.loudness is not None else DEFAULT_LOUDNESS_DBFS
        pcm = set_loudness(speak(turn.text, voice, turn.speaker), level)
        start, placement = _place(turn, number, pcm, track_end)
        pieces.append((start, pcm, placement))
    length = max(track_end.values()) + round(TAIL_S * PHONE_RATE)
    call = RenderedCall(np.zeros(length, np.int16), np.zeros(length, np.int16))
    for start, pcm, placement in pieces:
        call.track(placement.track)[start:start + len(pcm)] = pcm
        call.placements.append(placement)
    return call


# --- where to stream, and the signature ---------------------------------------------------


@dataclass(frozen=True)
class StreamTarget:
    """The WebSocket URL to connect to and the ``wss://`` URL the service checks."""

    connect_url: str
    signed_url: str

    def headers(self, twilio_token: str) -> dict[str, str]:
        """The upgrade headers: Twilio's signature of ``signed_url`` with no parameters.

        ``X-Forwarded-Host`` names the signed host, because the WebSocket client
        sends ``Host`` without the port; a service without ``VOICE_PUBLIC_URL``
        rebuilds the URL from it, one with ``VOICE_PUBLIC_URL`` ignores it.
        """
        from twilio.request_validator import RequestValidator

        signature = RequestValidator(twilio_token).compute_signature(self.signed_url, {})
        return {"X-Twilio-Signature": signature,
                "X-Forwarded-Host": urlsplit(self.signed_url).netloc}


def _stream_path(path: str) -> str:
    """``path`` (a base URL's path) with ``/twilio/stream`` appended unless it is there."""
    path = path.rstrip("/")
    return path if path.endswith(STREAM_PATH) else path + STREAM_PATH


def stream_target(url: str, public_url: str | None = None) -> StreamTarget:
    """Where to stream for the service at ``url`` (http/https) and what to sign.

    The signed URL is always ``wss://`` (Twilio connects over TLS only): that of
    ``public_url`` when given (the service's ``VOICE_PUBLIC_URL``, or a full
    ``wss://host/twilio/stream``), else that of ``url``.
    """
    base = urlsplit(url)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise SimulateAudioError(f"--url must be http:// or https://host[:port], got {url!r}")
    scheme = "wss" if base.scheme == "https" else "ws"
    connect = f"{scheme}://{base.netloc}{_stream_path(base.path)}"
    public = urlsplit(public_url) if public_url else base
    if public.scheme not in ("http", "https", "ws", "wss") or not public.netloc:
        raise SimulateAudioError(f"--public-url must be an http(s):// or ws(s):// URL, "
                                 f"got {public_url!r}")
    return StreamTarget(connect, f"wss://{public.netloc}{_stream_path(public.path)}")


# --- streaming --------------------------------------------------------------------------


def new_stream_call_sid() -> str:
    """A Twilio-shaped call sid: ``CA`` and 32 hex digits."""
    return "CA" + uuid.uuid4().hex


def _connect(target: StreamTarget, twilio_token: str) -> Any:
    """Open the signed WebSocket; turn refusals into errors that say what to fix."""
    import simple_websocket

    try:
        return simple_websocket.Client.connect(target.connect_url,
                                               headers=target.headers(twilio_token))
    except simple_websocket.ConnectionError as exc:  # the service answered, but not 101
        raise _refused(target, exc.status_code) from None
    except OSError as exc:  # refused, unknown host, TLS: nobody to talk to
        raise _unreachable(target, exc) from None


def _refused(target: StreamTarget, status: int | None) -> SimulateAudioError:
    if status == 403:
        return SimulateAudioError(
            f"the service refused the stream (403): the X-Twilio-Signature does not match. "
            f"It was signed for {target.signed_url} with the token given; check that "
            "--twilio-token is the service's TWILIO_AUTH_TOKEN and that --public-url is "
            "its VOICE_PUBLIC_URL (or leave both unset there)")
    return SimulateAudioError(f"the service refused the WebSocket upgrade at "
                              f"{target.connect_url}: HTTP {status}")


def _unreachable(target: StreamTarget, exc: Exception) -> SimulateAudioError:
    return SimulateAudioError(f"cannot reach the service's stream at {target.connect_url} "
                              f"({exc.__class__.__name__}: {exc}): is `voice serve` running?")


class AudioCall:
    """One spoken scenario streamed as a Twilio call, media sent in a background thread."""

    def __init__(self, scenario: Scenario, rendered: RenderedCall, target: StreamTarget,
                 twilio_token: str, speed: float) -> None:
        self.scenario = scenario
        self.rendered = rendered
        self.target = target
        self.twilio_token = twilio_token
        self.speed = speed
        self.call_sid = new_stream_call_sid()
        self.builder = FrameBuilder(self.call_sid)
        self.ws: Any = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.sent = 0

    @property
    def duration_s(self) -> float:
        """Seconds of call audio (at speed 1)."""
        return self.rendered.duration_s

    def start(self) -> AudioCall:
        """Connect, send ``connected`` and ``start`` (the record exists), stream in a thread."""
        self.ws = _connect(self.target, self.twilio_token)
        params = {"from": self.scenario.caller,
                  STREAM_TOKEN_PARAMETER: call_stream_token(self.twilio_token, self.call_sid)}
        if self.scenario.desk:
            params["desk"] = self.scenario.desk
        self._send(self.builder.connected())
        self._send(self.builder.start(params))
        self.thread = threading.Thread(target=self._run, name=f"stream-{self.call_sid}",
                                       daemon=True)
        self.thread.start()
        return self

    def _send(self, text: str) -> None:
        self.ws.send(text)

    def _run(self) -> None:
        try:
            self._play()
            self._send(self.builder.stop())
            self._wait_closed()
        except BaseException as exc:  # reported by finish() in the main thread
            self.error = exc
            self._close()

    def _play(self) -> None:
        """Send both tracks' 20 ms media messages at real time divided by the speed."""
        inbound, outbound = self.rendered.mulaw()
        began = time.perf_counter()
        for t, text in self.builder.call_media(inbound, outbound):
            delay = began + t / self.speed - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self._send(text)
            self.sent += 1

    def _wait_closed(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """After ``stop``, wait for the service to close the socket (the call is processed)."""
        from simple_websocket import ConnectionClosed

        deadline = time.monotonic() + timeout
        try:
            while self.ws.connected and time.monotonic() < deadline:
                self.ws.receive(timeout=0.5)
        except ConnectionClosed:
            return
        self._close()

    def _close(self) -> None:
        from simple_websocket import ConnectionClosed

        try:
            if self.ws is not None and self.ws.connected:
                self.ws.close()
        except (ConnectionClosed, OSError):
            pass

    def finish(self, call: dict[str, Any] | None = None, timeout: float = 10.0) -> None:
        """Wait for the sender; raise what went wrong, warn about audio the service dropped."""
        if self.thread is not None:
            self.thread.join(timeout)
        if self.error is not None:
            raise SimulateAudioError(f"the stream broke after {self.sent} media messages: "
                                     f"{self.error.__class__.__name__}: {self.error}")
        dropped = ((call or {}).get("stats") or {}).get("chunks_dropped") or 0
        if dropped:
            click.echo(f"warning: the service dropped {dropped} audio chunk(s) (its speech "
                       "worker fell behind); try a lower --speed", err=True)


def start_audio_call(scenario: Scenario, url: str, speed: float, *, voice: str = DEFAULT_VOICE,
                     twilio_token: str = "", public_url: str | None = None) -> AudioCall:
    """Render ``scenario`` and start streaming it to the service at ``url``.

    Returns once the service has the ``start`` message (so the call record
    exists); the media keeps flowing in a background thread until ``stop``.
    """
    if not twilio_token:
        raise SimulateAudioError(
            "no Twilio auth token to sign the stream: pass --twilio-token or set "
            "TWILIO_AUTH_TOKEN to the service's (any value if it runs with VOICE_INSECURE_DEV=1)")
    espeak_path()
    target = stream_target(url, public_url)
    rendered = render_scenario(scenario, voice)
    click.echo(f"Spoke {len(rendered.placements)} turns with espeak-ng ({voice}): "
               f"{rendered.duration_s:.1f} s of audio; streaming to {target.connect_url} "
               f"(signed for {target.signed_url})")
    return AudioCall(scenario, rendered, target, twilio_token, speed).start()
