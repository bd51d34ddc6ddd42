"""Memory soak: many short calls through the real WebSocket path and model; RSS per batch.

The app runs in this process (werkzeug on 127.0.0.1, signed Twilio requests,
the real Korean Vosk model, SQLite in a temporary folder); the Twilio side runs
in a separate process so its memory is not counted.  Calls go ``--batch`` at a
time at real-time pace, each ``--seconds`` of both committed recordings; the next
batch starts once the service has finished decoding the last (so a busy machine
measures memory per call, not a growing pile of calls).  After each batch the
service's RSS is printed; at the end, the growth after the first
5 calls and after a short rest.  Goal: flat, at most 50 MB above the level after
the first 5 calls.  Usage::

    .venv/bin/python benchmarks/soak.py --calls 100 --batch 5 --seconds 4
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "benchmarks")]

from stream_load import call_audio, default_model, make_app, run_clients  # noqa: E402

from voice.services import services_of  # noqa: E402

GOAL_MB = 50.0


def rss_mb() -> float:
    """This process's resident set size in MiB (from /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="Vosk model folder (default: Korean)")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--batch", type=int, default=5, help="calls at a time")
    parser.add_argument("--seconds", type=float, default=4.0, help="audio per call")
    parser.add_argument("--rest", type=float, default=15.0, help="seconds idle at the end")
    parser.add_argument("--graph-reset-s", type=float, default=None,
                        help="audio a recognizer hears before its graph is rebuilt "
                             "(VOICE_ASR_GRAPH_RESET_S; default: the service's)")
    args = parser.parse_args(argv)
    from conftest import LiveServer

    model = args.model or default_model()
    audio = call_audio(args.seconds)
    tag = f"{os.getpid() % 10000:04d}"
    print(f"soak: {args.calls} calls of {args.seconds:.0f} s, {args.batch} at a time, "
          f"model {Path(model).name}, {os.cpu_count()} CPUs, "
          f"MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', 'unset')}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(model, f"sqlite:///{tmp}/soak.db", queue_chunks=1500)
        speech = services_of(app).speech
        if args.graph_reset_s is not None and speech is not None:
            speech.graph_reset_after_s = args.graph_reset_s
        print(f"graph reset after {speech.graph_reset_after_s if speech else 0:.0f} s of a "
              "recognizer's audio", flush=True)
        store = services_of(app).store
        # The coach loads its topic encoder (MiniLM, ~400 MB) at the first topic it must
        # match by similarity; load it now so the curve shows calls, not a one-time load.
        from voice.coach.topics import default_topic_matcher

        default_topic_matcher()._get_encoder()
        print(f"RSS after loading (speech model, topic encoder): {rss_mb():.0f} MiB", flush=True)
        with LiveServer(app) as server:
            url = server.url.replace("http://", "ws://") + "/twilio/stream"
            ctx = mp.get_context("spawn")
            done, curve, incomplete = 0, [], 0
            started = time.perf_counter()
            while done < args.calls:
                n = min(args.batch, args.calls - done)
                sids = [f"CA{tag}soak{done + i:05d}".ljust(34, "0")[:34] for i in range(n)]
                results: mp.Queue = ctx.Queue()
                client = ctx.Process(target=run_clients, args=(url, sids, audio, 1.0, results))
                client.start()
                results.get(timeout=600)
                client.join()
                done += n
                pool = services_of(app).calls.parts.decoder
                deadline = time.monotonic() + 300  # a busy box may still be decoding the batch
                while pool is not None and pool.jobs and time.monotonic() < deadline:
                    time.sleep(0.2)
                if speech is not None:
                    speech.wait_for_resets(60)
                for sid in sids:
                    call = store.get_call(sid) or {}
                    if call.get("status") != "completed":
                        incomplete += 1
                rss = rss_mb()
                curve.append((done, rss))
                print(f"calls {done:4d}  RSS {rss:7.0f} MiB  threads {threading.active_count():3d}"
                      f"  spare recognizers {speech.spare_recognizers if speech else 0:3d}"
                      f"  graph resets {speech.graph_resets if speech else 0:4d}"
                      f"  Python objects {len(gc.get_objects()):8d}"
                      f"  {time.perf_counter() - started:6.0f} s", flush=True)
            time.sleep(args.rest)
            rested = rss_mb()
        services_of(app).close()
    base = next(r for n, r in curve if n >= min(5, args.calls))
    peak = max(r for _, r in curve)
    print(f"\nRSS after first {min(5, args.calls)} calls: {base:.0f} MiB; peak {peak:.0f} MiB; "
          f"after {args.calls} calls {curve[-1][1]:.0f} MiB; {args.rest:.0f} s later "
          f"{rested:.0f} MiB")
    growth = curve[-1][1] - base
    print(f"growth after the first 5 calls: {growth:+.0f} MiB (goal <= {GOAL_MB:.0f}): "
          f"{'met' if growth <= GOAL_MB else 'NOT met'}; calls not completed: {incomplete}")
    return 0 if growth <= GOAL_MB and not incomplete else 1


if __name__ == "__main__":
    sys.exit(main())
