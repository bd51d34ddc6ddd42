"""Live transcription: the real Vosk engine (Korean model) on the committed recordings."""

import threading
from itertools import pairwise

import numpy as np
import pytest
from audio_fixtures import CALLER_WAV, RECEPTIONIST_WAV, mulaw_chunks, read_mulaw_wav
from conftest import korean_model

from voice.audio import TrackAudio, mulaw_decode
from voice.transcribe import (
    TranscriptionWorker,
    load_speech_engine,
    model_sample_rate,
    read_endpoint_rules,
)


@pytest.fixture(scope="module")
def engine():
    return load_speech_engine(korean_model())


def feed(worker, tracks, offset=0.0, skip=()):
    """Submit each track's 20 ms chunks, tracks interleaved as Twilio sends them."""
    chunks = {speaker: list(mulaw_chunks(read_mulaw_wav(path)[0])) for speaker, path in tracks}
    sent = 0
    for i in range(max(len(c) for c in chunks.values())):
        for speaker, items in chunks.items():
            if i < len(items) and i not in skip:
                t, payload = items[i]
                assert worker.submit(speaker, mulaw_decode(payload), offset + t)
                sent += 1
    return sent


def test_model_conf_is_read():
    path = korean_model()
    assert model_sample_rate(path) == 16000  # no --sample-frequency in its mfcc.conf
    assert read_endpoint_rules(path)["rule2.min-trailing-silence"] == "0.5"


@pytest.mark.slow
def test_engine_is_loaded_once_per_process(engine):
    assert load_speech_engine(korean_model()) is engine
    assert engine.sample_rate == 16000
    assert engine.new_recognizer() is not engine.new_recognizer()


@pytest.mark.slow
def test_both_tracks_decode_to_attributed_timed_utterances(engine):
    out = []
    worker = TranscriptionWorker(engine, "CA-test", out.append)
    sent = feed(worker, [("caller", CALLER_WAV), ("receptionist", RECEPTIONIST_WAV)])
    worker.close()
    finals = [u for u in out if u.final]
    caller = [u for u in finals if u.speaker == "caller"]
    receptionist = [u for u in finals if u.speaker == "receptionist"]
    assert len(caller) >= 2 and len(receptionist) >= 1
    assert all(u.text and u.call_sid == "CA-test" for u in out)
    for u in finals:  # each utterance lies where its own track talks, not the other
        own = worker.tracks[u.speaker].active_seconds(u.t_start, u.t_end)
        other = worker.tracks["receptionist" if u.speaker == "caller" else "caller"]
        assert own > 0.3 and other.active_seconds(u.t_start, u.t_end) < own / 4
    for group in (caller, receptionist):
        starts = [u.t_start for u in group]
        assert starts == sorted(starts)
        assert all(a.t_end <= b.t_start + 0.05 for a, b in pairwise(group))
    for u in out:
        assert 0 <= u.t_start <= u.t_end <= 12.0
        assert u.words and [w.start for w in u.words] == sorted(w.start for w in u.words)
        assert all(0.0 <= w.conf <= 1.0 and u.t_start <= w.start <= w.end <= u.t_end
                   for w in u.words)
        assert u.audio is not None and u.audio.rms_dbfs > -40
    # Turn-taking recordings: a pause of about 0.5 s before each reply, no overlap.
    assert receptionist[0].audio.silence_before_s == pytest.approx(0.5, abs=0.25)
    assert all(u.audio.overlap_s < 0.2 for u in finals)
    partials = [u for u in out if not u.final]
    assert partials, "partial results come before finals"
    for speaker in ("caller", "receptionist"):
        mine = [u for u in out if u.speaker == speaker]
        assert all(a.text != b.text for a, b in pairwise(mine) if not a.final and not b.final)
    stats = worker.stats
    assert stats["chunks_in"] == sent and stats["chunks_dropped"] == 0
    assert stats["audio_seconds"] == pytest.approx(2 * read_mulaw_wav(CALLER_WAV)[1], abs=0.1)
    assert 0 < stats["rtf"] < 3
    assert stats["utterances"] == len(out)


@pytest.mark.slow
def test_call_time_survives_offset_and_gaps_and_handler_errors(engine):
    out = []

    def handler(u):
        out.append(u)
        if len(out) == 1:
            raise RuntimeError("console went away")

    worker = TranscriptionWorker(engine, "CA-gap", handler)
    # Call time starts at 30 s; 0.6 s of chunks (in the caller's long pause) never arrive.
    feed(worker, [("caller", CALLER_WAV)], offset=30.0, skip=range(175, 205))
    worker.close()
    finals = [u for u in out if u.final]
    assert len(finals) >= 2, "the worker survived the handler's exception"
    assert worker.stats["callback_errors"] == 1
    assert all(30.0 <= u.t_start <= u.t_end <= 42.0 for u in out)
    # The second sentence starts about 5.2 s into the recording, gap or not.
    assert any(abs(u.t_start - 35.2) < 0.4 for u in finals)


def test_without_engine_audio_is_kept_but_nothing_is_emitted():
    out = []
    worker = TranscriptionWorker(None, "CA-none", out.append)
    sent = feed(worker, [("caller", CALLER_WAV), ("receptionist", RECEPTIONIST_WAV)])
    worker.close()
    assert out == []
    assert worker.stats["chunks_in"] == sent and worker.stats["chunks_dropped"] == 0
    assert worker.tracks["caller"].active_seconds(0, 12) > 3
    assert worker.tracks["receptionist"].end_time == pytest.approx(11.68, abs=0.03)


class StuckTrack(TrackAudio):
    """A track whose writes wait for a signal: makes the worker fall behind on purpose."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.release = release

    def write(self, pcm, t):
        self.release.wait(10)
        super().write(pcm, t)


def test_full_queue_drops_and_counts_without_blocking():
    release = threading.Event()
    worker = TranscriptionWorker(None, "CA-full", lambda u: None, max_queue_chunks=5)
    worker.tracks["caller"] = StuckTrack(release)
    chunk = np.zeros(160, np.int16)
    accepted = [worker.submit("caller", chunk, i * 0.02) for i in range(20)]
    assert accepted[:5] == [True] * 5 and not all(accepted)
    stats = worker.stats
    assert stats["chunks_dropped"] == accepted.count(False) >= 14
    assert stats["chunks_in"] == accepted.count(True)
    assert stats["max_backlog"] == 5
    release.set()
    worker.close(timeout=10)
    assert not worker.submit("caller", chunk, 1.0)  # closed workers take nothing


def test_a_turn_ends_once_its_end_silence_has_passed_not_when_a_batch_fills():
    from twilio_helpers import ScriptedEngine

    out = []
    worker = TranscriptionWorker(ScriptedEngine(), "CA-turn-end", out.append, batch_s=0.2,
                                 end_silence_s=0.5)
    noise = np.random.default_rng(7).integers(-8000, 8000, 160).astype(np.int16)
    quiet = np.zeros(160, np.int16)
    finals_by_chunk_end = {}
    for i in range(60):  # 0.34 s of speech, then silence; chunks straight to the handler
        t = round(i * 0.02, 2)
        worker._handle(("caller", noise if t < 0.34 else quiet, t))
        finals_by_chunk_end[round(t + 0.02, 2)] = sum(u.final for u in out)
    worker.close()
    first = min(end for end, finals in finals_by_chunk_end.items() if finals)
    # 0.34 s + 0.5 s of silence = 0.84 s; a 0.2 s batch would only end at 1.0 s.
    assert 0.82 <= first <= 0.86, first
    assert [u.speaker for u in out if u.final][:1] == ["caller"]
