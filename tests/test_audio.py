"""The audio stage: mu-law, resampling, loudness, pitch and per-track features."""

import numpy as np
import pytest
from audio_fixtures import CALLER_WAV, RECEPTIONIST_WAV, mulaw_chunks, read_mulaw_wav
from conftest import import_or_missing

from voice.audio import (
    StreamResampler,
    TrackAudio,
    mulaw_decode,
    mulaw_encode,
    pitch_hz,
    resample,
    rms_dbfs,
)
from voice.events import Word

RATE = 8000


def tone(freq: float, seconds: float, amp: float = 8000.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.int16)


# G.711 mu-law reference points (ITU-T G.711 table 2a; the values audioop gave).
KNOWN = {0x00: -32124, 0x80: 32124, 0xFF: 0, 0x7F: 0, 0x0F: -16764, 0x8F: 16764,
         0x70: -120, 0xF0: 120, 0x7E: -8, 0xFE: 8}


def test_mulaw_decode_known_values():
    data = bytes(KNOWN)
    assert mulaw_decode(data).tolist() == list(KNOWN.values())
    assert mulaw_decode(b"").dtype == np.int16


def test_mulaw_encode_known_values():
    pcm = np.array([0, -1, 1, 32767, -32768, 120, -120, -8], dtype=np.int16)
    assert mulaw_encode(pcm) == bytes([0xFF, 0x7E, 0xFF, 0x80, 0x00, 0xF0, 0x70, 0x7E])


def test_mulaw_round_trip_every_code():
    codes = bytes(range(256))
    decoded = mulaw_decode(codes)
    assert np.array_equal(mulaw_decode(mulaw_encode(decoded)), decoded)
    # Only negative zero (0x7F) is re-encoded differently, as positive zero.
    assert mulaw_encode(decoded) == codes.replace(b"\x7f", b"\xff")


def test_mulaw_round_trip_error_is_within_a_step():
    x = np.arange(-32768, 32768, 7, dtype=np.int32).astype(np.int16)
    y = mulaw_decode(mulaw_encode(x)).astype(np.int32)
    # mu-law steps double each segment: error bounded by ~1/32 of the magnitude.
    assert np.all(np.abs(y - x) <= np.abs(x.astype(np.int32)) / 16 + 8)


def test_mulaw_matches_audioop_when_available():
    audioop = import_or_missing("audioop", "the standard library before Python 3.13")
    x = np.random.default_rng(0).normal(0, 6000, 20000).clip(-32768, 32767).astype(np.int16)
    assert mulaw_encode(x) == audioop.lin2ulaw(x.tobytes(), 2)
    codes = bytes(range(256))
    assert mulaw_decode(codes).tobytes() == audioop.ulaw2lin(codes, 2)


def test_resample_length_and_dtype():
    x = tone(440, 1.0)
    y = resample(x, 8000, 16000)
    assert y.dtype == np.int16 and y.size == 16000
    assert resample(x, 8000, 8000).size == 8000
    assert resample(x, 8000, 22050).size == 22050


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / rate)[np.argmax(spectrum)])


def test_resample_keeps_a_1khz_tone():
    y = resample(tone(1000, 1.0), 8000, 16000)
    assert _peak_hz(y, 16000) == pytest.approx(1000, abs=2)
    # Polyphase, not sample repetition: no image of the tone at 8 kHz - 1 kHz.
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    freqs = np.fft.rfftfreq(y.size, 1 / 16000)
    image = spectrum[np.abs(freqs - 7000) < 50].max()
    assert image < spectrum.max() / 1000
    assert rms_dbfs(y) == pytest.approx(rms_dbfs(tone(1000, 1.0)), abs=0.5)


def test_stream_resampler_matches_one_shot():
    x = tone(1000, 1.0)
    stream = StreamResampler(8000, 16000)
    parts = [stream.process(x[i:i + 160]) for i in range(0, x.size, 160)]
    y = np.concatenate(parts + [stream.process(np.zeros(0, np.int16), last=True)])
    assert abs(y.size - 16000) <= 2
    assert _peak_hz(y, 16000) == pytest.approx(1000, abs=2)
    # No clicks at the 20 ms chunk edges: the tone's envelope stays flat.
    mid = np.abs(y[2000:14000].astype(np.float64))
    frames = mid[: mid.size // 320 * 320].reshape(-1, 320).max(axis=1)
    assert frames.max() - frames.min() < 200


def test_rms_louder_is_higher_and_silence_is_floor():
    assert rms_dbfs(tone(300, 0.5, amp=16000)) > rms_dbfs(tone(300, 0.5, amp=2000)) + 15
    assert rms_dbfs(tone(300, 0.5, amp=32767)) == pytest.approx(-3.0, abs=0.1)
    assert rms_dbfs(np.zeros(800, np.int16)) == -120.0
    assert rms_dbfs(np.zeros(0, np.int16)) == -120.0


def test_pitch_none_for_silence_and_noise():
    assert pitch_hz(np.zeros(8000, np.int16), RATE) is None
    assert pitch_hz(np.zeros(10, np.int16), RATE) is None
    noise = np.random.default_rng(1).normal(0, 3000, 8000).astype(np.int16)
    assert pitch_hz(noise, RATE) is None


@pytest.mark.parametrize("freq", [80, 120, 200, 310, 390])
def test_pitch_of_a_tone(freq):
    assert pitch_hz(tone(freq, 0.5), RATE) == pytest.approx(freq, rel=0.02)


def test_pitch_of_recorded_voices():
    caller, _ = read_mulaw_wav(CALLER_WAV)
    receptionist, _ = read_mulaw_wav(RECEPTIONIST_WAV)
    low = pitch_hz(mulaw_decode(caller), RATE)
    high = pitch_hz(mulaw_decode(receptionist), RATE)
    assert low is not None and high is not None and 75 < low < high < 400


def _track(segments: list[tuple[float, float]], seconds: float = 10.0) -> TrackAudio:
    """A track that is loud in the given (start, end) spans, silent elsewhere, fed in 20 ms."""
    pcm = np.zeros(int(seconds * RATE), np.int16)
    for start, end in segments:
        lo, hi = int(start * RATE), int(end * RATE)
        pcm[lo:hi] = tone(150, 1.0 + end - start)[: hi - lo]
    track = TrackAudio()
    for i in range(0, pcm.size, 160):
        track.write(pcm[i:i + 160], i / RATE)
    return track


def test_track_audio_activity_and_store():
    track = _track([(1.0, 2.0), (4.0, 4.5)])
    assert track.end_time == pytest.approx(10.0)
    assert track.active_seconds(0, 10) == pytest.approx(1.5, abs=0.04)
    assert track.active_seconds(1.5, 4.25) == pytest.approx(0.75, abs=0.04)
    assert track.last_active_end(3.0) == pytest.approx(2.0, abs=0.02)
    assert track.last_active_end(0.5) is None
    assert track.pcm(1.0, 1.5).size == 4000


def test_track_audio_features_overlap_and_silence():
    caller = _track([(1.0, 3.0)])
    receptionist = _track([(2.5, 2.9), (5.0, 6.0)])
    words = (Word("a", 1.0, 1.4), Word("b", 1.5, 2.0), Word("c", 2.1, 3.0))
    f = caller.features(1.0, 3.0, other=receptionist, words=words)
    assert f.overlap_s == pytest.approx(0.4, abs=0.04)
    assert f.rms_dbfs == pytest.approx(rms_dbfs(tone(150, 1.0)), abs=0.5)
    assert f.pitch_hz == pytest.approx(150, rel=0.02)
    assert f.speech_rate_wps == pytest.approx(1.5)
    later = receptionist.features(5.0, 6.0, other=caller)
    assert later.silence_before_s == pytest.approx(2.0, abs=0.03)
    assert later.overlap_s == 0.0
    alone = caller.features(1.0, 3.0)
    assert alone.overlap_s == 0.0 and alone.silence_before_s == 0.0


def test_track_audio_gaps_read_as_silence_and_window_rolls():
    track = TrackAudio(window_s=2.0)
    track.write(tone(150, 0.5), 0.0)
    track.write(tone(150, 0.5), 1.5)  # 1 s gap
    assert track.active_seconds(0.5, 1.5) == 0.0
    assert np.all(track.pcm(0.6, 1.4) == 0)
    track.write(tone(150, 0.5), 3.0)  # window now 1.5..3.5
    assert track.pcm(0.0, 1.0).size == 0
    assert track.active_seconds(0.0, 3.5) == pytest.approx(1.0, abs=0.04)


def test_fixture_recordings_are_small_telephone_audio():
    total = 0
    for path in (CALLER_WAV, RECEPTIONIST_WAV):
        data, seconds = read_mulaw_wav(path)
        assert 5 < seconds < 15
        assert len(list(mulaw_chunks(data))) == pytest.approx(seconds * 50, abs=1)
        total += path.stat().st_size
    assert total < 200_000
