"""The transcription stage: per-track PCM in, partial and final ``Utterance``s out.

Owns the Vosk engine (one ``vosk.Model`` per process, shared by every call),
one recognizer per track (``TrackTranscriber``), and the per-call worker thread
(``TranscriptionWorker``) that keeps decoding off the WebSocket receive loop
behind a bounded queue and attaches each utterance's ``AudioFeatures``.

End of utterance.  Vosk 0.3.45 has no endpointer API; the model's own
``conf/model.conf`` endpoint rules apply as shipped (``read_endpoint_rules``
reports them; files inside an installed package are never edited).  On top of
them the worker ends an utterance itself when the track's voice-activity flags
show ``end_silence_s`` (0.5 s) of silence after speech, checked on every chunk,
by asking the recognizer for its ``FinalResult()`` (which decodes the frames its
feature pipeline still holds).  That keeps turn ends prompt even where a model's
rules fire late.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import vosk

from voice.audio import StreamResampler, TrackAudio
from voice.decoding import DecodingPool, default_pool, release_memory
from voice.events import PHONE_RATE, SPEAKERS, Speaker, Utterance, Word
from voice.metrics import observe_decode

log = logging.getLogger(__name__)

DEFAULT_MODEL_RATE = 16000
_ENGINES: dict[Path, SpeechEngine] = {}
_ENGINES_LOCK = threading.Lock()


def model_sample_rate(model_path: Path) -> int:
    """The model's sample rate: ``--sample-frequency`` in conf/mfcc.conf, else 16000."""
    conf = Path(model_path) / "conf" / "mfcc.conf"
    text = conf.read_text() if conf.is_file() else ""
    match = re.search(r"^--sample-frequency=(\d+(?:\.\d+)?)", text, re.MULTILINE)
    return int(float(match.group(1))) if match else DEFAULT_MODEL_RATE


def read_endpoint_rules(model_path: Path) -> dict[str, str]:
    """The ``--endpoint.*`` options of the model's conf/model.conf (empty if none)."""
    conf = Path(model_path) / "conf" / "model.conf"
    if not conf.is_file():
        return {}
    rules = {}
    for line in conf.read_text().splitlines():
        if line.startswith("--endpoint.") and "=" in line:
            key, value = line[len("--endpoint."):].split("=", 1)
            rules[key.strip()] = value.strip()
    return rules


@dataclass
class SpeechEngine:
    """One loaded Vosk model and what callers need to know about it."""

    model: Any
    path: Path
    sample_rate: int
    load_seconds: float = 0.0
    endpoint_rules: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The model folder's name (for logs and /healthz)."""
        return self.path.name

    spare_limit: int = 32
    graph_reset_after_s: float = 0.0  # audio a recognizer hears before its graph is rebuilt
    graph_resets: int = 0
    _spare: list[PooledRecognizer] = field(default_factory=list)
    _spare_lock: threading.Lock = field(default_factory=threading.Lock)
    _spare_ready: threading.Condition = field(init=False)
    _resetting: int = 0
    _reset_queue: queue.SimpleQueue[PooledRecognizer] = field(default_factory=queue.SimpleQueue)
    _reset_thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._spare_ready = threading.Condition(self._spare_lock)

    def new_recognizer(self) -> vosk.KaldiRecognizer:
        """A fresh recognizer at the model's rate with word timings on."""
        rec = vosk.KaldiRecognizer(self.model, float(self.sample_rate))
        rec.SetWords(True)
        rec.SetPartialWords(True)
        return rec

    def acquire(self, wait_s: float = 5.0) -> PooledRecognizer:
        """A recognizer for one track: a spare one that a finished call gave back, or new.

        Building a recognizer costs about half a CPU-second with a lookahead
        model (it composes its decoding graph), about what a graph reset costs,
        so while a given-back recognizer is being reset this waits for it (up
        to ``wait_s``) instead of building one more.
        """
        with self._spare_ready:
            self._spare_ready.wait_for(lambda: self._spare or not self._resetting, wait_s)
            if self._spare:
                return self._spare.pop()
        return PooledRecognizer(self.new_recognizer())

    def give_back(self, rec: PooledRecognizer) -> None:
        """Keep a recognizer whose last utterance was finalised for the next call.

        A lookahead model's recognizer composes its decoding graph lazily and
        caches every state it expands for as long as it lives: heard long
        enough, it grows by hundreds of MiB.  Once it has heard
        ``graph_reset_after_s`` of audio since its last reset, its graph is
        rebuilt empty (``SetGrammar("[]")``: the model's own full grammar) on a
        background thread before it is lent again.
        """
        with self._spare_ready:
            if len(self._spare) + self._resetting >= self.spare_limit:
                return
            if rec.fed_s - rec.reset_at_s < self.graph_reset_after_s:
                self._spare.append(rec)
                self._spare_ready.notify()
                return
            self._resetting += 1
            if self._reset_thread is None:
                self._reset_thread = threading.Thread(
                    target=self._reset_graphs, name="asr-graph-reset", daemon=True)
                self._reset_thread.start()
        self._reset_queue.put(rec)

    def _reset_graphs(self) -> None:
        while True:
            rec = self._reset_queue.get()
            kept = True
            try:
                rec.rec.SetGrammar("[]")
                rec.reset_at_s = rec.fed_s
            except Exception:
                log.exception("speech model %s: resetting a recognizer's graph failed", self.name)
                kept = False
            release_memory()
            with self._spare_ready:
                self._resetting -= 1
                if kept:
                    self.graph_resets += 1
                    self._spare.append(rec)
                self._spare_ready.notify_all()

    def wait_for_resets(self, timeout: float = 30.0) -> bool:
        """Block until no given-back recognizer is being reset; False on timeout."""
        with self._spare_ready:
            return self._spare_ready.wait_for(lambda: not self._resetting, timeout)

    @property
    def spare_recognizers(self) -> int:
        """Recognizers kept for the next calls."""
        with self._spare_ready:
            return len(self._spare)


@dataclass
class PooledRecognizer:
    """A Vosk recognizer and the seconds of audio it has been fed over its whole life.

    Vosk times words from the recognizer's first sample, across calls, so a
    reused recognizer's word times are offset by what earlier calls fed it.
    """

    rec: Any
    fed_s: float = 0.0
    reset_at_s: float = 0.0  # ``fed_s`` when its decoding graph was last rebuilt

    def accept(self, data: np.ndarray, rate: int) -> bool:
        """Feed int16 PCM at the model's ``rate``; True at an endpoint."""
        self.fed_s += data.size / rate
        return bool(self.rec.AcceptWaveform(data.tobytes()))


def load_speech_engine(path: str | Path) -> SpeechEngine:
    """Load the Vosk model at ``path`` once per process; later calls share it."""
    key = Path(path).resolve()
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            if not (key / "am").is_dir() and not (key / "conf").is_dir():
                raise FileNotFoundError(f"{key} is not a Vosk model folder")
            vosk.SetLogLevel(-1)
            started = time.perf_counter()
            model = vosk.Model(str(key))
            _ENGINES[key] = SpeechEngine(
                model=model, path=key, sample_rate=model_sample_rate(key),
                load_seconds=time.perf_counter() - started,
                endpoint_rules=read_endpoint_rules(key),
            )
            log.info("speech model %s loaded in %.1f s (%d Hz)", key.name,
                     _ENGINES[key].load_seconds, _ENGINES[key].sample_rate)
        return _ENGINES[key]


class TrackTranscriber:
    """One track's recognizer: 8 kHz PCM at call times in, utterances out.

    Vosk times words by the audio it was fed; a list of anchors (fed seconds,
    call time) maps them back to call time across gaps and dropped chunks.
    """

    def __init__(self, engine: SpeechEngine, call_sid: str, speaker: Speaker,
                 partial_interval_s: float = 0.2) -> None:
        self.call_sid = call_sid
        self.partial_interval_s = partial_interval_s
        self._next_partial_s = 0.0  # fed seconds before which no partial is asked for
        self.speaker = speaker
        self._rate = engine.sample_rate
        self._engine = engine
        self._pooled = engine.acquire()
        self._rec = self._pooled.rec
        self._offset_s = self._pooled.fed_s  # Vosk's clock for this recognizer at our start
        self._resampler = StreamResampler(PHONE_RATE, engine.sample_rate)
        self._anchors: list[tuple[float, float]] = []
        self._fed_s = 0.0  # seconds of 8 kHz audio given to the recognizer
        self._next_t: float | None = None
        self._partial = ""

    @property
    def in_utterance(self) -> bool:
        """True while a partial hypothesis is open (words heard, no final yet)."""
        return bool(self._partial)

    def feed(self, pcm8k: np.ndarray, t: float) -> list[Utterance]:
        """Decode a chunk starting at call time ``t``; return new partial/final utterances."""
        if self._next_t is None or abs(t - self._next_t) > 0.5 / PHONE_RATE:
            self._anchors.append((self._fed_s, t))
            del self._anchors[:-64]
        self._fed_s += len(pcm8k) / PHONE_RATE
        self._next_t = t + len(pcm8k) / PHONE_RATE
        data = self._resampler.process(pcm8k)
        if data.size and self._pooled.accept(data, self._rate):
            return self._final(self._rec.Result())
        if self._fed_s < self._next_partial_s:
            return []
        self._next_partial_s = self._fed_s + self.partial_interval_s
        return self._partial_result()

    def end_utterance(self) -> list[Utterance]:
        """Force the current utterance to end now (the worker's silence endpoint).

        ``FinalResult`` rather than ``Result``: it also decodes the last frames
        the feature pipeline still holds for context, which ``Result`` would
        leave to open the next utterance (a turn's last word split off).
        """
        return self._final(self._rec.FinalResult())

    def flush(self) -> list[Utterance]:
        """End of stream: drain the resampler and return the last final utterance."""
        tail = self._resampler.process(np.zeros(0, np.int16), last=True)
        out: list[Utterance] = []
        if tail.size and self._pooled.accept(tail, self._rate):
            out += self._final(self._rec.Result())
        out += self._final(self._rec.FinalResult())
        self._engine.give_back(self._pooled)  # finalised: the next call starts it afresh
        return out

    def _partial_result(self) -> list[Utterance]:
        res = json.loads(self._rec.PartialResult())
        text = res.get("partial", "").strip()
        if not text or text == self._partial:
            return []
        self._partial = text
        return self._utterance(text, res.get("partial_result", []), final=False)

    def _final(self, raw: str) -> list[Utterance]:
        self._partial = ""
        res = json.loads(raw)
        text = res.get("text", "").strip()
        return self._utterance(text, res.get("result", []), final=True) if text else []

    def _utterance(self, text: str, raw_words: list[dict[str, Any]],
                   final: bool) -> list[Utterance]:
        words = tuple(
            Word(text=w["word"], start=self._call_time(w["start"] - self._offset_s),
                 end=self._call_time(w["end"] - self._offset_s),
                 conf=round(float(w.get("conf", 1.0)), 4))
            for w in raw_words
        )
        now = self._call_time(self._fed_s)
        t_start = words[0].start if words else now
        t_end = words[-1].end if words else now
        return [Utterance(call_sid=self.call_sid, speaker=self.speaker, text=text,
                          t_start=t_start, t_end=t_end, final=final, words=words)]

    def _call_time(self, fed_s: float) -> float:
        """Map seconds of fed audio to call time through the latest anchor before it."""
        base_fed, base_t = self._anchors[0] if self._anchors else (0.0, 0.0)
        for anchor_fed, anchor_t in reversed(self._anchors):
            if anchor_fed <= fed_s:
                base_fed, base_t = anchor_fed, anchor_t
                break
        return round(base_t + fed_s - base_fed, 3)


class TranscriptionWorker:
    """One call's transcription: both tracks, decoded on the shared ``DecodingPool``.

    ``submit`` never blocks (a full queue drops the chunk and counts it);
    small chunks are batched to ``batch_s`` before reaching the recognizer;
    with ``skip_silence`` (the voice-activity gate) a track's silence between
    turns is not decoded, except ``end_silence_s`` of hang-over after speech;
    every utterance goes to ``on_utterance`` with its ``AudioFeatures``.
    ``on_delay(lag_s, delayed)`` is told when the oldest undecoded chunk has
    waited more than ``delay_warn_s`` and again when the call has caught up.
    With ``engine=None`` only the audio features are kept.
    """

    def __init__(self, engine: SpeechEngine | None, call_sid: str,
                 on_utterance: Callable[[Utterance], None], max_queue_chunks: int = 1500,
                 batch_s: float = 0.2, end_silence_s: float = 0.5,
                 skip_silence: bool = True, partial_interval_s: float = 0.2,
                 pool: DecodingPool | None = None, delay_warn_s: float = 2.0,
                 on_delay: Callable[[float, bool], None] | None = None) -> None:
        self.engine = engine
        self.call_sid = call_sid
        self.on_utterance: Callable[[Utterance], None] | None = on_utterance  # None once closed
        self.batch_samples = int(batch_s * PHONE_RATE)
        self.end_silence_s = end_silence_s
        self.skip_silence = skip_silence
        self.delay_warn_s = delay_warn_s
        self.on_delay = on_delay
        self.delayed = False
        self._open: set[Speaker] = set()  # tracks with speech fed since their last final
        self._preroll: dict[Speaker, tuple[np.ndarray, float]] = {}
        self.tracks = {s: TrackAudio() for s in SPEAKERS}
        self._asr = {s: TrackTranscriber(engine, call_sid, s, partial_interval_s)
                     for s in SPEAKERS} if engine else {}
        self._pending: dict[Speaker, tuple[float, list[np.ndarray]]] = {}
        self._lock = threading.Lock()
        self._stats = dict(chunks_in=0, chunks_dropped=0, max_backlog=0, audio_seconds=0.0,
                           decode_seconds=0.0, silence_skipped_seconds=0.0, utterances=0,
                           callback_errors=0, decode_errors=0, max_lag_s=0.0)
        self._closed = False
        self._next_lag_check = 0.0
        self.pool = pool or default_pool()
        self._job = self.pool.job(f"asr-{call_sid}", self._handle, self._finish,
                                  on_idle=self._flush_pending, max_items=max_queue_chunks)

    def submit(self, speaker: Speaker, pcm8k: np.ndarray, t: float) -> bool:
        """Queue a track's 8 kHz int16 chunk starting at call time ``t``; False if dropped."""
        if self._closed:
            return False
        if not self._job.submit((speaker, pcm8k, t)):
            with self._lock:
                self._stats["chunks_dropped"] += 1
            self._check_lag()
            return False
        backlog = self._job.backlog
        with self._lock:
            self._stats["chunks_in"] += 1
            self._stats["max_backlog"] = max(self._stats["max_backlog"], backlog)
        self._check_lag()
        return True

    @property
    def lag_s(self) -> float:
        """Seconds the oldest undecoded chunk of this call has waited."""
        return self._job.lag_s()

    def _check_lag(self, force: bool = False) -> None:
        """Tell ``on_delay`` when the lag crosses ``delay_warn_s`` (checked 4 times a second)."""
        now = time.monotonic()
        if not force and now < self._next_lag_check:
            return
        self._next_lag_check = now + 0.25
        lag = self._job.lag_s(now)
        with self._lock:
            self._stats["max_lag_s"] = round(max(self._stats["max_lag_s"], lag), 3)
            delayed = lag > self.delay_warn_s if not self.delayed else lag > self.delay_warn_s / 4
            changed = delayed != self.delayed
            self.delayed = delayed
        if changed and self.on_delay is not None:
            try:
                self.on_delay(lag, delayed)
            except Exception:
                log.exception("call %s: delay handler failed", self.call_sid)

    def close(self, timeout: float = 30.0) -> None:
        """Decode what is queued, flush both tracks' final results; wait for it."""
        self._closed = True
        if not self._job.close(timeout):
            log.warning("call %s: transcription still running after %.0f s",
                        self.call_sid, timeout)
        if self.delayed and self.on_delay is not None:
            self.delayed = False
            self.on_delay(0.0, False)

    def release_audio(self) -> None:
        """After ``close``: let go of the tracks' audio buffers and the recognizers.

        Nothing is released while a decoder that outlived ``close`` still runs.
        """
        if not self._job.done.is_set():
            return
        self.tracks = {}
        self._asr = {}
        self._preroll.clear()
        self._pending.clear()
        self.on_utterance = self.on_delay = None

    @property
    def stats(self) -> dict[str, float]:
        """Counters: chunks in/dropped, max backlog and lag, audio and decode seconds, rtf."""
        with self._lock:
            out = dict(self._stats)
        out["rtf"] = out["decode_seconds"] / out["audio_seconds"] if out["audio_seconds"] else 0.0
        return out

    def _handle(self, item: tuple[Speaker, np.ndarray, float]) -> None:
        try:
            self._accept(*item)
        except Exception:
            log.exception("call %s: decoding a %s chunk failed", self.call_sid, item[0])
            self._count("decode_errors")
        self._check_lag()

    def _accept(self, speaker: Speaker, pcm8k: np.ndarray, t: float) -> None:
        pcm8k = np.asarray(pcm8k, dtype=np.int16)
        self.tracks[speaker].write(pcm8k, t)
        if not self._asr:
            return
        start, parts = self._pending.get(speaker, (t, []))
        if parts and abs(start + sum(p.size for p in parts) / PHONE_RATE - t) > 1e-3:
            self._decode(speaker)
            start, parts = t, []
        parts.append(pcm8k)
        self._pending[speaker] = (start, parts)
        if (sum(p.size for p in parts) >= self.batch_samples
                or self._turn_over(speaker, start, t + pcm8k.size / PHONE_RATE)):
            self._decode(speaker)

    def _turn_over(self, speaker: Speaker, batch_start: float, now: float) -> bool:
        """Whether a track's speech in flight has just been followed by ``end_silence_s``.

        Checked on every chunk, so a turn's end does not wait for a batch to fill.
        """
        if speaker not in self._open and not self.tracks[speaker].active(batch_start, now).any():
            return False
        return self._silent_since(speaker, now) >= self.end_silence_s

    def _decode(self, speaker: Speaker) -> None:
        """Give a track's batched audio to its recognizer and emit what comes back."""
        start, parts = self._pending.pop(speaker, (0.0, []))
        if not parts:
            return
        pcm = np.concatenate(parts)
        end = start + pcm.size / PHONE_RATE
        began = time.perf_counter()
        out = self._recognize(speaker, pcm, start, end)
        self._timed(began, pcm.size / PHONE_RATE)
        self._emit(out)

    def _recognize(self, speaker: Speaker, pcm: np.ndarray, start: float,
                   end: float) -> list[Utterance]:
        """Feed speech (and the silence right after it); skip long silences.

        A silent batch outside speech is held back as pre-roll for the next
        speech batch instead of being decoded.
        """
        asr, track = self._asr[speaker], self.tracks[speaker]
        speech = bool(track.active(start, end).any())
        if self.skip_silence and not speech and speaker not in self._open:
            self._preroll[speaker] = (pcm, start)
            self._count("silence_skipped_seconds", pcm.size / PHONE_RATE)
            return []
        out: list[Utterance] = []
        held = self._preroll.pop(speaker, None)
        if held is not None:
            self._count("silence_skipped_seconds", -held[0].size / PHONE_RATE)
            out += asr.feed(*held)
        out += asr.feed(pcm, start)
        if speech:
            self._open.add(speaker)
        if speaker in self._open and self._silent_since(speaker, end) >= self.end_silence_s:
            out += asr.end_utterance()
            self._open.discard(speaker)
        return out

    def _silent_since(self, speaker: Speaker, now: float) -> float:
        """Seconds of silence at the end of a track, up to ``now``."""
        last = self.tracks[speaker].last_active_end(now)
        return now - last if last is not None else now

    def _flush_pending(self) -> None:
        for speaker in list(self._pending):
            try:
                self._decode(speaker)
            except Exception:
                log.exception("call %s: decoding %s failed", self.call_sid, speaker)
                self._count("decode_errors")

    def _finish(self) -> None:
        self._flush_pending()
        for asr in self._asr.values():
            try:
                began = time.perf_counter()
                out = asr.flush()
                self._timed(began, 0.0)
                self._emit(out)
            except Exception:
                log.exception("call %s: final %s result failed", self.call_sid, asr.speaker)
                self._count("decode_errors")

    def _emit(self, utterances: list[Utterance]) -> None:
        for u in utterances:
            other = self.tracks[SPEAKERS[1] if u.speaker == SPEAKERS[0] else SPEAKERS[0]]
            u = replace(u, audio=self.tracks[u.speaker].features(
                u.t_start, u.t_end, other=other, words=u.words))
            self._count("utterances")
            if self.on_utterance is None:  # closed meanwhile: nobody listens any more
                continue
            try:
                self.on_utterance(u)
            except Exception:
                log.exception("call %s: utterance handler failed", self.call_sid)
                self._count("callback_errors")

    def _timed(self, began: float, audio_s: float) -> None:
        with self._lock:
            took = time.perf_counter() - began
            self._stats["decode_seconds"] += took
            self._stats["audio_seconds"] += audio_s
        observe_decode(audio_s, took)

    def _count(self, key: str, n: float = 1) -> None:
        with self._lock:
            self._stats[key] += n
