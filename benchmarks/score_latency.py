"""Latency and memory of the frustration scorers on this machine, step by step.

Rows (milliseconds per caller utterance, one at a time, p50/p95; CPU ms beside):

1. the frozen-encoder head (torch fp32), the default scorer;
2. the same with torch int8 dynamic quantization of the encoder's Linear layers;
3. the fine-tuned model exported to ONNX, fp32 weights (``--fp32 FILE``, the export
   `voice models train-frustration` leaves in its cache), ONNX Runtime, 1 thread;
4. the fine-tuned int8 model (``minilm-finetuned``), 1 thread;
5. the default scorer through the full call-level state (``CallFrustration.observe``:
   model, cues, baseline, smoothing, level, reasons).

Each step is timed over the same utterances; resident memory is read from /proc.

    .venv/bin/python benchmarks/score_latency.py [--n 300] [--fp32 FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

UTTERANCES = [
    "Hi, I'd like to book a checkup for next Tuesday morning.",
    "This is the third time I've called about my refill and nobody called me back.",
    "Okay, thank you.",
    "I've been on hold for forty minutes and I want to talk to your manager.",
    "Could you check whether my insurance covers the blood test the doctor ordered last week?",
    "No, that won't work, I need it today.",
]


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc)."""
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def time_each(fn: Callable[[str], object], texts: list[str]) -> tuple[list[float], float]:
    """Wall milliseconds for each text handled alone, and mean CPU ms (after warm-up)."""
    fn(texts[0])
    fn(texts[1])
    out = []
    cpu0 = time.process_time()
    for text in texts:
        t0 = time.perf_counter()
        fn(text)
        out.append((time.perf_counter() - t0) * 1000)
    return out, (time.process_time() - cpu0) * 1000 / len(texts)


def summary(measured: tuple[list[float], float]) -> dict[str, float]:
    """p50 and p95 wall milliseconds, mean CPU milliseconds."""
    ms, cpu = measured
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2), "cpu_ms": round(cpu, 2)}


def fp32_scorer(fp32: Path, model_dir: Path, threads: int):  # noqa: ANN201 - FineTunedScorer
    """The fine-tuned model with its fp32 ONNX weights (copied beside the shipped card)."""
    from voice.frustration.onnx_model import FineTunedScorer

    tmp = Path(tempfile.mkdtemp())
    for f in model_dir.iterdir():
        if not f.name.endswith(".onnx"):
            shutil.copy(f, tmp)
    shutil.copy(fp32, tmp / "fp32.onnx")
    card = json.loads((tmp / "card.json").read_text())
    card["model_file"] = "fp32.onnx"
    (tmp / "card.json").write_text(json.dumps(card))
    return FineTunedScorer(tmp, threads=threads)


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description="Frustration scorer latency and memory.")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--fp32", type=Path, default=Path("/tmp/voice_frust_cache/model.fp32.onnx"))
    args = parser.parse_args()
    rss0 = rss_mb()
    import torch

    from voice.events import Utterance
    from voice.frustration import CallFrustration, load_scorer
    from voice.frustration.model import DEFAULT_SCORER_NAME, default_finetuned_dir
    from voice.frustration.onnx_model import FineTunedScorer

    torch.set_num_threads(1)
    texts = [f"{UTTERANCES[i % len(UTTERANCES)]} ({i})" for i in range(args.n)]
    rows: dict[str, dict[str, float]] = {}
    t0 = time.perf_counter()
    head = load_scorer(DEFAULT_SCORER_NAME)
    head.score(UTTERANCES)
    load_s = time.perf_counter() - t0
    rss_shipped = rss_mb()
    rows["1 default: frozen MiniLM + head, torch fp32"] = summary(
        time_each(lambda t: head.score([t]), texts))
    import copy

    quantized = copy.copy(head.encoder)
    quantized.model = torch.ao.quantization.quantize_dynamic(
        head.encoder.model, {torch.nn.Linear}, dtype=torch.qint8)
    head_int8 = copy.copy(head)
    head_int8.encoder = quantized
    rows["2 same, torch int8 dynamic quantization"] = summary(
        time_each(lambda t: head_int8.score([t]), texts))
    if args.fp32.exists():
        fp32 = fp32_scorer(args.fp32, default_finetuned_dir(), threads=1)
        rows["3 fine-tuned, ONNX Runtime fp32, 1 thread"] = summary(
            time_each(lambda t: fp32.score([t]), texts))
    tuned = FineTunedScorer(default_finetuned_dir(), threads=1)
    rows["4 fine-tuned, ONNX Runtime int8, 1 thread"] = summary(
        time_each(lambda t: tuned.score([t]), texts))
    call = CallFrustration("bench", head)
    clock = iter(range(10**6))

    def observe(text: str) -> None:
        t = 3.0 * next(clock)
        call.observe(Utterance("bench", "caller", text, t, t + 2.0, True))

    rows["5 default scorer + full call-level state"] = summary(time_each(observe, texts))
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"default model load {load_s:.2f} s; RSS python {rss0:.0f} MiB -> with default "
          f"model {rss_shipped:.0f} MiB; at the end (all models) {rss_mb():.0f} MiB")
    for name, figs in rows.items():
        print(f"  {name:46s} p50 {figs['p50_ms']:6.2f} ms   p95 {figs['p95_ms']:6.2f} ms   "
              f"CPU {figs['cpu_ms']:6.2f} ms")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
