"""Speaking a scenario for ``voice simulate --audio``: espeak-ng turns into two phone tracks.

Each turn is rendered with ``espeak-ng`` (a different voice variant and pitch
for caller and receptionist), converted to 8 kHz mono, scaled to the turn's
``loudness`` and placed at its ``at`` second on its own track (caller on the
inbound track, receptionist on the outbound one, silence elsewhere).
``voice.tools.audio_call`` streams the result.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np

from voice.audio import mulaw_encode, resample, rms_dbfs
from voice.events import PHONE_RATE
from voice.scenarios.script import Scenario, ScenarioTurn
from voice.twilio.protocol import TRACK_OF_SPEAKER

log = logging.getLogger(__name__)

DEFAULT_VOICE = "en-us"
DEFAULT_LOUDNESS_DBFS = -20.0  # for turns that give no loudness
SAME_TRACK_GAP_S = 0.3  # a turn that would overlap its own track's last one waits this long
TAIL_S = 1.5  # silence after the last word, so the speech model closes the utterance
TRIM_RATIO = 0.01  # samples under 1% of the peak at either end count as silence
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


def espeak_args(voice: str, speaker: str, style: VoiceStyle | None = None) -> list[str]:
    """espeak-ng options for ``speaker``: the voice with its variant, pitch and rate
    (``style``, else the speaker's ``VOICE_STYLES`` entry).

    A ``voice`` that already names a variant (``en-us+f2``) keeps it; the two
    speakers then differ by pitch only.
    """
    style = style or VOICE_STYLES[speaker]
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


def speak(text: str, voice: str = DEFAULT_VOICE, speaker: str = "caller",
          style: VoiceStyle | None = None) -> np.ndarray:
    """``text`` spoken by espeak-ng as ``speaker`` (in ``style``, else the speaker's own):
    8 kHz int16, leading/trailing silence cut."""
    with tempfile.TemporaryDirectory(prefix="voice-espeak-") as folder:
        out = Path(folder) / "turn.wav"
        command = [espeak_path(), *espeak_args(voice, speaker, style), "-w", str(out),
                   "--stdin"]
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
