"""Streaming a spoken scenario as a real Twilio call, for ``voice simulate --audio``.

The two tracks ``voice.tools.speech`` renders are mu-law encoded and sent as
Twilio Media Streams frames (``connected``, ``start``, ``media`` in 20 ms
chunks, ``stop``) over a real WebSocket to the running service's
``/twilio/stream``, at real-time pace divided by the speed, with an
``X-Twilio-Signature`` on the upgrade as Twilio would sign it and the call's
stream token in the ``start`` message's ``customParameters`` as the voice
webhook's TwiML would give it.  The service transcribes the audio with its
speech model, so this exercises the whole pipeline from the socket on.

``voice.tools.simulate`` owns the command line, the polling of the call record
and the output; this module and ``speech`` render and stream.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import click

from voice.scenarios.script import Scenario
from voice.tools.frames import FrameBuilder
from voice.tools.speech import (
    DEFAULT_VOICE,
    RenderedCall,
    SimulateAudioError,
    espeak_path,
    render_scenario,
)
from voice.twilio.signature import STREAM_TOKEN_PARAMETER, call_stream_token

STREAM_PATH = "/twilio/stream"
CLOSE_TIMEOUT_S = 60.0


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
