"""The audio stage: telephone audio in, PCM and acoustic features out.

Owns G.711 mu-law decoding/encoding, resampling to the speech model's rate,
loudness and pitch measurements, and ``TrackAudio``: the rolling store of one
track's recent audio (indexed by call time, with 20 ms voice-activity flags)
from which an utterance's ``AudioFeatures`` are computed.  Pure numpy/scipy;
no I/O and no knowledge of the stages after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import gcd

import numpy as np
import soxr
from scipy.signal import resample_poly

from voice.events import PHONE_RATE, AudioFeatures, Word

SILENCE_DBFS = -120.0
_MULAW_BIAS = 0x21  # 0x84 at 16-bit scale, 14-bit here
_MULAW_CLIP = 8159


def _mulaw_decode_table() -> np.ndarray:
    """All 256 mu-law bytes decoded to int16 (ITU-T G.711)."""
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.int16)


_DECODE = _mulaw_decode_table()
# G.711 segment of a biased 14-bit magnitude, looked up by its bits 6..13.
_SEGMENT = np.array([min(i.bit_length(), 7) for i in range(256)], dtype=np.int32)


def mulaw_decode(data: bytes) -> np.ndarray:
    """Decode G.711 mu-law bytes to int16 PCM (one sample per byte)."""
    return _DECODE[np.frombuffer(data, dtype=np.uint8)]


def mulaw_encode(pcm: np.ndarray) -> bytes:
    """Encode int16 PCM as G.711 mu-law bytes (the same bytes audioop.lin2ulaw gave)."""
    v = np.asarray(pcm, dtype=np.int32) >> 2  # 14-bit, as G.711 specifies
    mask = np.where(v < 0, 0x7F, 0xFF)
    v = np.minimum(np.minimum(np.abs(v), _MULAW_CLIP) + _MULAW_BIAS, 0x1FFF)
    segment = _SEGMENT[(v >> 6) & 0xFF]
    mantissa = (v >> (segment + 1)) & 0x0F
    encoded: bytes = (((segment << 4) | mantissa) ^ mask).astype(np.uint8).tobytes()
    return encoded


def resample(pcm: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample a whole buffer with a polyphase filter; int16 in, int16 out."""
    if from_rate == to_rate:
        return np.asarray(pcm).copy()
    g = gcd(from_rate, to_rate)
    out: np.ndarray = resample_poly(np.asarray(pcm, dtype=np.float32), to_rate // g,
                                    from_rate // g)
    if np.asarray(pcm).dtype == np.int16:
        return np.asarray(np.clip(np.rint(out), -32768, 32767), dtype=np.int16)
    return out


class StreamResampler:
    """Resample a continuous stream chunk by chunk without edge clicks (soxr).

    Stateless resampling of 20–200 ms chunks treats each chunk edge as silence;
    this keeps the filter state across chunks so the output equals resampling
    the whole stream at once (apart from a short start-up delay).
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._stream = (
            None if from_rate == to_rate
            else soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16", quality="HQ")
        )

    def process(self, pcm: np.ndarray, last: bool = False) -> np.ndarray:
        """Resample the next chunk; ``last=True`` flushes the filter's tail."""
        pcm = np.ascontiguousarray(pcm, dtype=np.int16)
        if self._stream is None:
            return pcm
        chunk: np.ndarray = self._stream.resample_chunk(pcm, last=last)
        return chunk


def rms_dbfs(pcm: np.ndarray) -> float:
    """Loudness in dB relative to int16 full scale; -120 for silence or no audio."""
    x = np.asarray(pcm, dtype=np.float64)
    if x.size == 0:
        return SILENCE_DBFS
    rms = float(np.sqrt(np.mean(x * x)))
    if rms <= 0.0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 20.0 * float(np.log10(rms / 32768.0)))


def _frames(x: np.ndarray, size: int, hop: int) -> np.ndarray:
    """Overlapping frames of ``x`` as a 2-D view (rows = frames)."""
    if x.size < size:
        return np.empty((0, size), dtype=x.dtype)
    return np.lib.stride_tricks.sliding_window_view(x, size)[::hop]


def pitch_hz(
    pcm: np.ndarray, rate: int, fmin: float = 75.0, fmax: float = 400.0,
    min_dbfs: float = -45.0, max_frames: int = 120,
) -> float | None:
    """Median fundamental frequency of the voiced 40 ms frames, or None if unvoiced.

    Normalised autocorrelation per frame (FFT based, all frames at once); a
    frame counts as voiced when it is loud enough and its best lag in the
    75–400 Hz range correlates above 0.5.
    """
    x = np.asarray(pcm, dtype=np.float64)
    size, hop = int(0.04 * rate), int(0.02 * rate)
    frames = _frames(x, size, hop)
    if len(frames) > max_frames:
        frames = frames[np.linspace(0, len(frames) - 1, max_frames).astype(int)]
    frames = frames - frames.mean(axis=1, keepdims=True)
    loud = np.sqrt(np.mean(frames**2, axis=1)) > 32768.0 * 10 ** (min_dbfs / 20)
    frames = frames[loud]
    if len(frames) == 0:
        return None
    spec = np.fft.rfft(frames, n=2 * size, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :size]
    ac = ac / np.maximum(ac[:, :1], 1e-9) * size / (size - np.arange(size))
    lags = _best_lags(ac, int(rate / fmax), min(int(rate / fmin) + 1, size - 2))
    voiced = ac[np.arange(len(frames)), lags] > 0.5
    if not voiced.any():
        return None
    return float(np.median(rate / _refine(ac[voiced], lags[voiced])))


def _best_lags(ac: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Per frame, the shortest-lag local peak within 15% of the best (no octave drops)."""
    band = ac[:, lo - 1:hi + 1]
    mid = band[:, 1:-1]
    peak = (mid >= band[:, :-2]) & (mid >= band[:, 2:])
    good = peak & (mid >= 0.85 * mid.max(axis=1, keepdims=True))
    return np.asarray(lo + np.where(good.any(axis=1), np.argmax(good, axis=1),
                                    np.argmax(mid, axis=1)))


def _refine(ac: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Parabolic interpolation of autocorrelation peaks to fractional lags."""
    rows = np.arange(len(lags))
    a, b, c = ac[rows, lags - 1], ac[rows, lags], ac[rows, lags + 1]
    denom = a - 2 * b + c
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0)
    return np.asarray(lags + np.clip(shift, -0.5, 0.5))


def speech_rate_wps(words: Sequence[Word]) -> float | None:
    """Words per second from word timings; None for fewer than two words."""
    if len(words) < 2:
        return None
    span = words[-1].end - words[0].start
    return len(words) / span if span > 0.2 else None


class TrackAudio:
    """The last ``window_s`` seconds of one track's 8 kHz PCM, indexed by call time.

    ``write`` places each chunk at its call time (gaps read as silence) and
    updates a voice-activity flag per 20 ms frame (frame loudness above
    ``vad_dbfs``).  Not thread-safe: one worker owns it.
    """

    FRAME = 160  # samples per 20 ms VAD frame at 8 kHz

    def __init__(self, rate: int = PHONE_RATE, window_s: float = 60.0,
                 vad_dbfs: float = -45.0) -> None:
        self.rate = rate
        self.vad_dbfs = vad_dbfs
        n_frames = int(window_s * rate) // self.FRAME
        self._pcm = np.zeros(n_frames * self.FRAME, dtype=np.int16)
        self._vad = np.zeros(n_frames, dtype=bool)
        self._end = 0  # absolute sample index one past the newest sample

    @property
    def end_time(self) -> float:
        """Call time (s) just after the newest stored sample."""
        return self._end / self.rate

    def _oldest(self) -> int:
        return max(0, self._end - self._pcm.size)

    def write(self, pcm: np.ndarray, t: float) -> None:
        """Store a chunk of int16 PCM that starts at call time ``t`` seconds."""
        pcm = np.asarray(pcm, dtype=np.int16)
        start = int(round(t * self.rate))
        stop = start + pcm.size
        if stop <= self._oldest() or pcm.size == 0:
            return
        if start > self._end:
            self._put(self._end, np.zeros(min(start - self._end, self._pcm.size), np.int16))
        self._put(max(start, stop - self._pcm.size), pcm[-self._pcm.size:])
        first_frame = min(start, self._end) // self.FRAME
        self._end = max(self._end, stop)
        self._update_vad(max(first_frame, self._oldest() // self.FRAME), self._end // self.FRAME)

    def _put(self, start: int, pcm: np.ndarray) -> None:
        idx = np.arange(start, start + pcm.size) % self._pcm.size
        self._pcm[idx] = pcm

    def _update_vad(self, first: int, stop: int) -> None:
        if stop <= first:
            return
        frames = self._get(first * self.FRAME, stop * self.FRAME).reshape(-1, self.FRAME)
        power = np.mean(frames.astype(np.float64) ** 2, axis=1)
        threshold = (32768.0 * 10 ** (self.vad_dbfs / 20)) ** 2
        self._vad[np.arange(first, stop) % self._vad.size] = power > threshold

    def _get(self, start: int, stop: int) -> np.ndarray:
        return self._pcm[np.arange(start, stop) % self._pcm.size]

    def _samples(self, t_start: float, t_end: float) -> tuple[int, int]:
        """A call-time span clamped to the stored samples, as absolute indices."""
        lo = max(int(round(t_start * self.rate)), self._oldest())
        hi = min(int(round(t_end * self.rate)), self._end)
        return lo, max(lo, hi)

    def _frame_range(self, t_start: float, t_end: float) -> tuple[int, int]:
        """Absolute indices of the complete 20 ms frames overlapping the span."""
        lo, hi = self._samples(t_start, t_end)
        first = lo // self.FRAME
        return first, max(first, min(-(-hi // self.FRAME), self._end // self.FRAME))

    def pcm(self, t_start: float, t_end: float) -> np.ndarray:
        """The stored samples between two call times (clipped to what is kept)."""
        return self._get(*self._samples(t_start, t_end))

    def active(self, t_start: float, t_end: float) -> np.ndarray:
        """Voice-activity flags of the 20 ms frames overlapping the span."""
        first, stop = self._frame_range(t_start, t_end)
        return self._vad[np.arange(first, stop) % self._vad.size]

    def active_seconds(self, t_start: float, t_end: float) -> float:
        """Seconds of voice activity within the span."""
        return float(self.active(t_start, t_end).sum()) * self.FRAME / self.rate

    def last_active_end(self, before: float) -> float | None:
        """End (call time) of the last active frame starting before ``before``."""
        first, _ = self._frame_range(0.0, before)
        idx = np.flatnonzero(self.active(0.0, before))
        if idx.size == 0:
            return None
        return min(before, (first + int(idx[-1]) + 1) * self.FRAME / self.rate)

    def features(self, t_start: float, t_end: float, other: TrackAudio | None = None,
                 words: Sequence[Word] = ()) -> AudioFeatures:
        """How the span sounded: loudness, pitch, speech rate, overlap, pause before."""
        pcm = self.pcm(t_start, t_end)
        voiced = self._voiced_samples(t_start, t_end, pcm)
        return AudioFeatures(
            rms_dbfs=round(float(rms_dbfs(voiced)), 2),
            pitch_hz=pitch_hz(pcm, self.rate),
            speech_rate_wps=speech_rate_wps(words),
            overlap_s=other.active_seconds(t_start, t_end) if other else 0.0,
            silence_before_s=_silence_before(other, t_start),
        )

    def _voiced_samples(self, t_start: float, t_end: float, pcm: np.ndarray) -> np.ndarray:
        """The span's samples in active frames (all of them when none is active)."""
        lo, _ = self._samples(t_start, t_end)
        flags = self.active(t_start, t_end)
        offset = lo % self.FRAME
        mask = np.repeat(flags, self.FRAME)[offset:offset + pcm.size]
        if mask.size < pcm.size or not mask.any():
            return pcm
        return np.asarray(pcm[mask])


def _silence_before(other: TrackAudio | None, t_start: float) -> float:
    """Seconds between the other track's last activity and ``t_start`` (0 if unknown)."""
    if other is None:
        return 0.0
    end = other.last_active_end(t_start)
    return 0.0 if end is None else round(max(0.0, t_start - end), 3)
