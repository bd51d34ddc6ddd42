"""Latency and memory of the frustration scorers on this machine, step by step.

Rows (milliseconds per caller utterance, one at a time, p50/p95):

1. the frozen-encoder baseline head (torch fp32, max length 128) — "today";
2. the fine-tuned model exported to ONNX, fp32 weights (``--fp32 FILE``, the export
   `voice models train-frustration` leaves in its cache), ONNX Runtime, 1 thread;
3. the shipped int8 model, 2 threads;
4. the shipped int8 model, 1 thread (the default);
5. the shipped model through the full call-level state (``CallFrustration.observe``:
   model, cues, baseline, smoothing, level, reasons).

Each step is timed over the same utterances; resident memory is read from /proc.

    .venv/bin/python benchmarks/score_latency.py [--n 300] [--fp32 FILE] [--skip-baseline]
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


def time_each(fn: Callable[[str], object], texts: list[str]) -> list[float]:
    """Milliseconds for each text handled alone (after two warm-up calls)."""
    fn(texts[0])
    fn(texts[1])
    out = []
    for text in texts:
        t0 = time.perf_counter()
        fn(text)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(ms: list[float]) -> dict[str, float]:
    """p50 and p95 in milliseconds."""
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2)}


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
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    rss0 = rss_mb()
    from voice.events import Utterance
    from voice.frustration import CallFrustration, load_scorer
    from voice.frustration.model import DEFAULT_SCORER_NAME, default_finetuned_dir
    from voice.frustration.onnx_model import FineTunedScorer

    texts = [f"{UTTERANCES[i % len(UTTERANCES)]} ({i})" for i in range(args.n)]
    rows: dict[str, dict[str, float]] = {}
    t0 = time.perf_counter()
    shipped = FineTunedScorer(default_finetuned_dir(), threads=1)
    load_s = time.perf_counter() - t0
    shipped.score(UTTERANCES)
    rss_shipped = rss_mb()
    if not args.skip_baseline:
        head = load_scorer(DEFAULT_SCORER_NAME)
        rows["1 baseline: frozen MiniLM + head, torch fp32, len 128"] = summary(
            time_each(lambda t: head.score([t]), texts))
    if args.fp32.exists():
        fp32 = fp32_scorer(args.fp32, default_finetuned_dir(), threads=1)
        rows["2 fine-tuned, ONNX Runtime fp32, 1 thread"] = summary(
            time_each(lambda t: fp32.score([t]), texts))
    two = FineTunedScorer(default_finetuned_dir(), threads=2)
    rows["3 fine-tuned, ONNX Runtime int8, 2 threads"] = summary(
        time_each(lambda t: two.score([t]), texts))
    rows["4 fine-tuned, ONNX Runtime int8, 1 thread (shipped)"] = summary(
        time_each(lambda t: shipped.score([t]), texts))
    call = CallFrustration("bench", shipped)
    clock = iter(range(10**6))

    def observe(text: str) -> None:
        t = 3.0 * next(clock)
        call.observe(Utterance("bench", "caller", text, t, t + 2.0, True))

    rows["5 shipped model + full call-level state"] = summary(time_each(observe, texts))
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"shipped model load {load_s:.2f} s; RSS python {rss0:.0f} MiB -> with shipped "
          f"model {rss_shipped:.0f} MiB; at the end {rss_mb():.0f} MiB")
    for name, figs in rows.items():
        print(f"  {name:58s} p50 {figs['p50_ms']:6.2f} ms   p95 {figs['p95_ms']:6.2f} ms")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
