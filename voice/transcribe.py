"""The transcription stage: per-track PCM in, partial and final ``Utterance``s out.

Owns the Vosk engine (one ``vosk.Model`` per process, shared by every call),
one recognizer per track (``TrackTranscriber``), and the per-call worker thread
(``TranscriptionWorker``) that keeps decoding off the WebSocket receive loop
behind a bounded queue and attaches each utterance's ``AudioFeatures``.

End of utterance.  Vosk 0.3.45 has no endpointer API; the model's own
``conf/model.conf`` endpoint rules apply as shipped (``read_endpoint_rules``
reports them; files inside an installed package are never edited).  On top of
them the worker ends an utterance itself when the track's voice-activity flags
show ``end_silence_s`` of silence after speech, by asking the recognizer for its
``Result()``, which is exactly what Vosk's own endpoint leads to.  That keeps
turn ends prompt even where a model's rules fire late.
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

from voice.audio import PHONE_RATE, StreamResampler, TrackAudio
from voice.events import Speaker, Utterance, Word
from voice.metrics import observe_decode

log = logging.getLogger(__name__)

DEFAULT_MODEL_RATE = 16000
SPEAKERS: tuple[Speaker, Speaker] = ("caller", "receptionist")
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

    def new_recognizer(self) -> vosk.KaldiRecognizer:
        """A fresh recognizer at the model's rate with word timings on."""
        rec = vosk.KaldiRecognizer(self.model, float(self.sample_rate))
        rec.SetWords(True)
        rec.SetPartialWords(True)
        return rec


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

    def __init__(self, engine: SpeechEngine, call_sid: str, speaker: Speaker) -> None:
        self.call_sid = call_sid
        self.speaker = speaker
        self._rate = engine.sample_rate
        self._rec = engine.new_recognizer()
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
        if data.size and self._rec.AcceptWaveform(data.tobytes()):
            return self._final(self._rec.Result())
        return self._partial_result()

    def end_utterance(self) -> list[Utterance]:
        """Force the current utterance to end now (the worker's silence endpoint)."""
        return self._final(self._rec.Result())

    def flush(self) -> list[Utterance]:
        """End of stream: drain the resampler and return the last final utterance."""
        tail = self._resampler.process(np.zeros(0, np.int16), last=True)
        out: list[Utterance] = []
        if tail.size and self._rec.AcceptWaveform(tail.tobytes()):
            out += self._final(self._rec.Result())
        return out + self._final(self._rec.FinalResult())

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

    def _utterance(self, text: str, raw_words: list[dict], final: bool) -> list[Utterance]:
        words = tuple(
            Word(text=w["word"], start=self._call_time(w["start"]),
                 end=self._call_time(w["end"]), conf=round(float(w.get("conf", 1.0)), 4))
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


_STOP = object()


class TranscriptionWorker:
    """One call's decoding thread: both tracks, behind a bounded queue.

    ``submit`` never blocks (a full queue drops the chunk and counts it);
    small chunks are batched to ``batch_s`` before reaching the recognizer;
    with ``skip_silence`` a track's silence between turns is not decoded;
    every utterance goes to ``on_utterance`` with its ``AudioFeatures``.
    With ``engine=None`` only the audio features are kept.
    """

    def __init__(self, engine: SpeechEngine | None, call_sid: str,
                 on_utterance: Callable[[Utterance], None], max_queue_chunks: int = 1500,
                 batch_s: float = 0.2, end_silence_s: float = 0.8,
                 skip_silence: bool = True) -> None:
        self.engine = engine
        self.call_sid = call_sid
        self.on_utterance = on_utterance
        self.batch_samples = int(batch_s * PHONE_RATE)
        self.end_silence_s = end_silence_s
        self.skip_silence = skip_silence
        self._open: set[Speaker] = set()  # tracks with speech fed since their last final
        self._preroll: dict[Speaker, tuple[np.ndarray, float]] = {}
        self.tracks = {s: TrackAudio() for s in SPEAKERS}
        self._asr = {s: TrackTranscriber(engine, call_sid, s) for s in SPEAKERS} if engine else {}
        self._pending: dict[Speaker, tuple[float, list[np.ndarray]]] = {}
        self._queue: queue.Queue = queue.Queue(maxsize=max_queue_chunks)
        self._lock = threading.Lock()
        self._stats = dict(chunks_in=0, chunks_dropped=0, max_backlog=0, audio_seconds=0.0,
                           decode_seconds=0.0, silence_skipped_seconds=0.0, utterances=0,
                           callback_errors=0, decode_errors=0)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"asr-{call_sid}", daemon=True)
        self._thread.start()

    def submit(self, speaker: Speaker, pcm8k: np.ndarray, t: float) -> bool:
        """Queue a track's 8 kHz int16 chunk starting at call time ``t``; False if dropped."""
        if self._closed:
            return False
        try:
            self._queue.put_nowait((speaker, pcm8k, t))
        except queue.Full:
            with self._lock:
                self._stats["chunks_dropped"] += 1
            return False
        with self._lock:
            self._stats["chunks_in"] += 1
            self._stats["max_backlog"] = max(self._stats["max_backlog"], self._queue.qsize())
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Decode what is queued, flush both tracks' final results, and stop the thread."""
        if not self._closed:
            self._closed = True
            try:
                self._queue.put(_STOP, timeout=timeout)
            except queue.Full:
                log.warning("call %s: transcription queue stuck; not flushed", self.call_sid)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("call %s: transcription still running after %.0f s",
                        self.call_sid, timeout)

    @property
    def stats(self) -> dict[str, float]:
        """Counters: chunks in/dropped, max backlog, audio and decode seconds, rtf."""
        with self._lock:
            out = dict(self._stats)
        out["rtf"] = out["decode_seconds"] / out["audio_seconds"] if out["audio_seconds"] else 0.0
        return out

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                self._flush_pending()
                continue
            if item is _STOP:
                self._finish()
                return
            try:
                self._accept(*item)
            except Exception:
                log.exception("call %s: decoding a %s chunk failed", self.call_sid, item[0])
                self._count("decode_errors")

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
        if sum(p.size for p in parts) >= self.batch_samples:
            self._decode(speaker)

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
