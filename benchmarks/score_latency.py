"""Latency and memory of the default frustration scorer on this machine.

Reports milliseconds per utterance (p50/p95) scoring one utterance at a time and in
batches, for the model alone and through the full call-level state, and the resident
memory (RSS) that importing torch/transformers and loading the model add.

    .venv/bin/python benchmarks/score_latency.py [--n 200] [--batch 16]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
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


def percentiles(ms: list[float]) -> str:
    """p50/p95 of a list of milliseconds."""
    return f"p50 {np.percentile(ms, 50):6.1f} ms   p95 {np.percentile(ms, 95):6.1f} ms"


def time_single(fn, texts: list[str]) -> list[float]:
    """Milliseconds for each text scored alone."""
    out = []
    for text in texts:
        t0 = time.perf_counter()
        fn(text)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def time_batched(scorer, texts: list[str], batch: int) -> list[float]:
    """Milliseconds per utterance for each batch of ``batch`` texts."""
    out = []
    for i in range(0, len(texts) - batch + 1, batch):
        t0 = time.perf_counter()
        scorer.score(texts[i : i + batch])
        out.append((time.perf_counter() - t0) * 1000 / batch)
    return out


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description="Frustration scorer latency and memory.")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    rss0 = rss_mb()
    import torch
    import transformers  # noqa: F401

    rss1 = rss_mb()
    from voice.events import Utterance
    from voice.frustration import CallFrustration, load_scorer

    t0 = time.perf_counter()
    scorer = load_scorer()
    load_s = time.perf_counter() - t0
    scorer.score(UTTERANCES)  # warm-up
    rss2 = rss_mb()
    texts = [f"{UTTERANCES[i % len(UTTERANCES)]} ({i})" for i in range(args.n)]
    single = time_single(lambda t: scorer.score([t]), texts)
    batched = time_batched(scorer, texts, args.batch)
    call = CallFrustration("bench", scorer)
    state_ms = time_single(
        lambda t: call.observe(Utterance("bench", "caller", t, 0.0, 1.0, True)), texts)
    print(f"machine: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    print(f"model load: {load_s:.2f} s (scorer {scorer.name})")
    print(f"single utterance          {percentiles(single)}")
    print(f"batched ({args.batch:2d}) per utt.    {percentiles(batched)}")
    print(f"full state per utterance  {percentiles(state_ms)}")
    print(f"RSS: python {rss0:.0f} MiB; +torch/transformers {rss1 - rss0:.0f} MiB; "
          f"+model loaded and warm {rss2 - rss1:.0f} MiB; total {rss2:.0f} MiB")


if __name__ == "__main__":
    main()
