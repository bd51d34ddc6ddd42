"""Latency and memory of the frustration scorers on this machine, step by step.

Rows (milliseconds per caller utterance, one at a time, p50/p95; CPU ms beside):

1. before: the frozen-encoder head on torch fp32, max 128 tokens (torch on 1 thread);
2. the same with a max of 64 tokens;
3. the same encoder exported to ONNX (pooling inside the graph), ONNX Runtime fp32,
   1 thread, max 64 tokens (``voice.embedding.OnnxSentenceEncoder(int8=False)``);
4. the same ONNX graph with int8 dynamic quantization (per channel): the shipped default;
5. the fine-tuned model (``minilm-finetuned``, int8 ONNX), opt-in;
6. the shipped default through the full call-level state (``CallFrustration.observe``:
   model, cues, baseline, smoothing, level, rising, reasons);
7. the frustration state and the coach's topic matcher on the same utterance, each
   embedding it (two encoder passes) vs sharing the pass (``voice.embedding`` reuses the
   vector of a text it just embedded): what the live call does per caller utterance;
8. the same with the fine-tuned model, whose pass the topic matcher cannot share.

Each step is timed over the same utterances; resident memory is read from /proc.

    .venv/bin/python benchmarks/score_latency.py [--n 300]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
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


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description="Frustration scorer latency and memory.")
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    rss0 = rss_mb()
    from voice.coach.playbook import Topic
    from voice.coach.topics import TopicMatcher
    from voice.embedding import OnnxSentenceEncoder, SentenceEncoder, default_encoder_path
    from voice.events import Utterance
    from voice.frustration import CallFrustration, MiniLMHeadScorer
    from voice.frustration.model import default_finetuned_dir
    from voice.frustration.onnx_model import FineTunedScorer

    # a new text every time, so no row is helped by the encoder's reuse of a recent text
    def fresh(n: int, tag: str) -> list[str]:
        return [f"{UTTERANCES[i % len(UTTERANCES)]} ({tag}{i})" for i in range(n)]

    rows: dict[str, dict[str, float]] = {}
    t0 = time.perf_counter()
    onnx = OnnxSentenceEncoder(default_encoder_path(), int8=True)
    head = MiniLMHeadScorer(encoder=onnx)
    head.score(UTTERANCES)
    load_s = time.perf_counter() - t0
    rss_shipped = rss_mb()
    tuned = FineTunedScorer(default_finetuned_dir(), threads=1)
    tuned.score(UTTERANCES)
    rss_tuned = rss_mb()

    import torch

    torch.set_num_threads(1)
    torch128 = SentenceEncoder(default_encoder_path(), max_length=128)
    head128 = MiniLMHeadScorer(encoder=torch128)
    rows["1 before: frozen MiniLM + head, torch fp32, 128 tokens"] = summary(
        time_each(lambda t: head128.score([t]), fresh(args.n, "a")))
    torch64 = copy.copy(torch128)
    torch64.max_length = 64
    head64 = MiniLMHeadScorer(encoder=torch64)
    rows["2 same, max 64 tokens"] = summary(
        time_each(lambda t: head64.score([t]), fresh(args.n, "b")))
    fp32 = MiniLMHeadScorer(encoder=OnnxSentenceEncoder(default_encoder_path(), int8=False))
    rows["3 ONNX Runtime fp32, 1 thread, 64 tokens"] = summary(
        time_each(lambda t: fp32.score([t]), fresh(args.n, "c")))
    rows["4 same, int8 weights (shipped)"] = summary(
        time_each(lambda t: head.score([t]), fresh(args.n, "d")))
    rows["5 fine-tuned MiniLM, ONNX int8 (opt-in)"] = summary(
        time_each(lambda t: tuned.score([t]), fresh(args.n, "e")))
    call = CallFrustration("bench", head)
    clock = iter(range(10**6))

    def observe(text: str) -> None:
        t = 3.0 * next(clock)
        call.observe(Utterance("bench", "caller", text, t, t + 2.0, True))

    rows["6 shipped default + full call-level state"] = summary(
        time_each(observe, fresh(args.n, "f")))
    topics = [Topic(id="refill", label="your refill", phrase="a refill", keywords=(),
                    examples=("I need a refill of my prescription",
                              "my pharmacy has not received the refill"))]
    shared = TopicMatcher(encoder=onnx)
    own = TopicMatcher(encoder=OnnxSentenceEncoder(default_encoder_path(), int8=True))
    frustration_only = CallFrustration("bench2", head)

    def both(matcher: TopicMatcher) -> Callable[[str], None]:
        def run(text: str) -> None:
            t = 3.0 * next(clock)
            frustration_only.observe(Utterance("bench2", "caller", text, t, t + 2.0, True))
            matcher.match(text, topics)
        return run

    rows["7a state + topic matcher, two encoder passes"] = summary(
        time_each(both(own), fresh(args.n, "g")))
    rows["7b state + topic matcher, one shared pass (shipped)"] = summary(
        time_each(both(shared), fresh(args.n, "h")))
    shipped = CallFrustration("bench3", tuned)

    def shipped_call(text: str) -> None:
        t = 3.0 * next(clock)
        shipped.observe(Utterance("bench3", "caller", text, t, t + 2.0, True))
        shared.match(text, topics)

    rows["8 fine-tuned + full state + topic matcher (opt-in)"] = summary(
        time_each(shipped_call, fresh(args.n, "i")))
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"shipped default load {load_s:.2f} s (ONNX export cached); RSS python {rss0:.0f} MiB "
          f"-> with the head {rss_shipped:.0f} MiB, + fine-tuned {rss_tuned:.0f} MiB; at the "
          f"end (all models) "
          f"{rss_mb():.0f} MiB")
    for name, figs in rows.items():
        print(f"  {name:56s} p50 {figs['p50_ms']:6.2f} ms   p95 {figs['p95_ms']:6.2f} ms   "
              f"CPU {figs['cpu_ms']:6.2f} ms")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
