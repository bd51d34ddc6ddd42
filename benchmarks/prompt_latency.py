"""Prompt latency: a final caller utterance entering the pipeline → the prompt at an SSE client.

Serves the app on a loopback socket, connects a console's ``GET /events`` stream
over a raw socket, then plays scripted escalating calls straight into
``LiveCall.add_utterance``.  For every caller utterance that produces a prompt,
the time from just before ``add_utterance`` to the moment the ``prompt`` event is
read off the socket is one sample.  Runs with the in-process bus and with Redis
(``REDIS_URL`` or redis://127.0.0.1:6379/15), and prints p50/p95/max.

    .venv/bin/python benchmarks/prompt_latency.py [--calls 30] [--fake-scorer]
        [--torch-threads N] [--no-text-cache] [--bus memory|redis]

``--torch-threads 2 --no-text-cache`` measures the pipeline as it was before
issue 13 (torch on every core, each caller line embedded twice).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voice import create_app  # noqa: E402
from voice.config import Config  # noqa: E402
from voice.events import AudioFeatures, CallStarted, Prompt, Utterance  # noqa: E402
from voice.scenarios.script import SCENARIO_DIR, load_scenario  # noqa: E402
from voice.services import services_of

PROMPT_EVENT = re.compile(r"event: prompt\ndata: (\{.*?\})\n")


class KeywordScorer:
    """Stand-in for the sentiment model when it is not available (``--fake-scorer``)."""

    name = "keywords"

    def score(self, texts: Sequence[str]) -> list[float]:
        words = ("ridiculous", "three times", "collections", "done with", "not my mistake")
        return [0.9 if any(w in t.lower() for w in words) else 0.1 for t in texts]


class SSEWatcher:
    """A console connected over a raw socket, noting when each prompt arrives."""

    def __init__(self, port: int, cookie: str, desk: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(f"GET /events?desk={desk} HTTP/1.1\r\nHost: bench\r\n"
                          f"Cookie: session={cookie}\r\nAccept: text/event-stream\r\n\r\n"
                          .encode())
        self.arrived: dict[tuple[str, str], float] = {}
        self._buffer = ""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            now = time.perf_counter()
            self._buffer += data.decode("utf-8", "replace")
            for match in PROMPT_EVENT.finditer(self._buffer):
                prompt = json.loads(match.group(1))
                self.arrived.setdefault((prompt["call_sid"], prompt["id"]), now)
            self._buffer = self._buffer[self._buffer.rfind("\n\n") + 2:]

    def close(self) -> None:
        self.sock.close()


def play_calls(svc, calls: int, desk: str,  # noqa: ANN001
               published: dict[tuple[str, str], float] | None = None,
               ) -> dict[tuple[str, str], float]:
    """Feed scripted calls; return when each prompt's caller utterance went in.

    ``published`` collects when each prompt had been handed to the bus.
    """
    scenario = load_scenario(SCENARIO_DIR / "billing_dispute.yaml")
    sent: dict[tuple[str, str], float] = {}
    for _ in range(calls):
        sid = "BENCH" + uuid.uuid4().hex
        live = svc.calls.open(CallStarted(sid, "+15550000000", desk=desk, simulated=True),
                                 with_audio=False)
        if published is not None:
            live.listeners.append(
                lambda event, sid=sid: isinstance(event, Prompt)
                and published.setdefault((sid, event.id), time.perf_counter()))
        for turn in scenario.turns:
            audio = AudioFeatures(rms_dbfs=turn.loudness) if turn.loudness is not None else None
            utterance = Utterance(sid, turn.speaker, turn.text, max(0.0, turn.at - 3), turn.at,
                                  True, audio=audio)  # type: ignore[arg-type]
            before = len(live.prompts)
            start = time.perf_counter()
            live.add_utterance(utterance)
            if turn.speaker == "caller":
                for prompt in live.prompts[before:]:
                    sent[(sid, prompt.id)] = start
        live.end("completed")
    return sent


def login_cookie(app, svc, desk: str) -> str:  # noqa: ANN001
    """Log a receptionist of ``desk`` in through the form (CSRF token and all); her cookie."""
    password = "prompt-latency-Passphrase-7"
    svc.store.users.add("bench", password, "receptionist", [desk])
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"username": "bench", "password": password,
                                         "csrf_token": token})
    assert answer.status_code == 302, answer.status_code
    return client.get_cookie("session").value


def measure(bus_name: str, config: Config, scorer,  # noqa: ANN001
            calls: int) -> dict[str, list[float]]:
    """Milliseconds per prompt for one bus: end to end, in the stages, bus to browser."""
    overrides = {"scorer": scorer} if scorer is not None else {}
    app = create_app(config, **overrides)
    svc = services_of(app)
    desk = f"bench-{bus_name}-{uuid.uuid4().hex[:6]}"
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cookie = login_cookie(app, svc, desk)
    watcher = SSEWatcher(server.server_port, cookie, desk)
    try:
        time.sleep(0.5)
        play_calls(svc, 1, desk)  # warm-up: loads the encoder, fills caches
        published: dict[tuple[str, str], float] = {}
        sent = play_calls(svc, calls, desk, published)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not set(sent) <= set(watcher.arrived):
            time.sleep(0.05)
        print(f"  ({bus_name}: scorer {svc.scorer_status}; playbook {svc.playbook_status})")
        done = [key for key in sent if key in watcher.arrived and key in published]
        return {
            "end to end": [1000 * (watcher.arrived[k] - sent[k]) for k in done],
            "  stages (to publish)": [1000 * (published[k] - sent[k]) for k in done],
            "  bus + SSE delivery": [1000 * (watcher.arrived[k] - published[k]) for k in done],
        }
    finally:
        watcher.close()
        server.shutdown()
        svc.bus.close()


def report(name: str, samples: list[float]) -> None:
    """Print p50/p95/max for one bus."""
    if not samples:
        print(f"{name} no prompts arrived")
        return
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"{name:<24} n={len(ordered):<4} p50={statistics.median(ordered):7.2f} ms  "
          f"p95={p95:7.2f} ms  max={ordered[-1]:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="scripted calls per bus")
    parser.add_argument("--fake-scorer", action="store_true",
                        help="use a keyword scorer instead of the sentiment model")
    parser.add_argument("--torch-threads", type=int, default=Config().torch_threads,
                        help="torch intra-op threads (VOICE_TORCH_THREADS)")
    parser.add_argument("--no-text-cache", action="store_true",
                        help="embed every text afresh (no shared recent-text cache)")
    parser.add_argument("--bus", choices=("memory", "redis"), action="append",
                        help="measure only this bus (repeatable; default both)")
    args = parser.parse_args()
    if args.no_text_cache:
        import voice.embedding

        voice.embedding.RECENT_TEXTS = 0
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    # A file database, as the service runs: in-memory SQLite lends its one connection to
    # one thread at a time, so the consoles' audit writes would queue behind the writer's.
    database = Path(tempfile.mkdtemp(prefix="prompt-latency-")) / "calls.db"
    base = Config.for_testing(database_url=f"sqlite:///{database}",
                              load_sentiment_model=not args.fake_scorer,
                              torch_threads=args.torch_threads)
    scorer = KeywordScorer() if args.fake_scorer else None
    print(f"prompt latency: final caller utterance -> prompt event at an SSE client "
          f"(loopback), {args.calls} calls per bus")
    print(f"scorer: {'keywords (--fake-scorer)' if args.fake_scorer else 'the configured model'}"
          f"; torch threads {args.torch_threads}; text cache "
          f"{'off' if args.no_text_cache else 'on'}; load {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs")
    buses = (("memory", base), ("redis", base.replace(redis_url=redis_url)))
    for name, config in buses:
        if args.bus and name not in args.bus:
            continue
        try:
            figures = measure(name, config, scorer, args.calls)
        except Exception as exc:  # noqa: BLE001 - report and carry on
            print(f"{name} bus skipped: {exc.__class__.__name__}: {exc}")
            continue
        print(f"{name} bus")
        for label, samples in figures.items():
            report(label, samples)


if __name__ == "__main__":
    main()
