"""Speech to prompt: end of a caller's speech to the card's event at a console's SSE stream.

The app runs in this process (werkzeug on 127.0.0.1) with the real Korean Vosk
model, the real sentiment scorer and the playbook in ``prompts/``.  A separate
process plays the calls as Twilio would (signed upgrade, the call's stream
token, both tracks at real-time pace, calls starting ``--stagger`` s apart) and
holds a receptionist's logged-in ``/events`` stream.  For every caller turn (a
stretch of voiced frames followed by at least 0.8 s of silence) it notes the wall
time the turn's last voiced frame was sent, then the first caller ``transcript``
final covering that turn and the first ``prompt`` of that call after it, before
the caller speaks again.  Printed: p50/p95 of last-voiced-frame → final and
last-voiced-frame → prompt, at 1 call and at ``--calls``.  The endpoint silence
the service waits for is included.  Usage::

    .venv/bin/python benchmarks/speech_to_prompt.py --calls 8
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "benchmarks")]

from stream_load import (  # noqa: E402
    PUBLIC_URL,
    STREAM_URL,
    TOKEN,
    default_model,
)

from voice.services import services_of  # noqa: E402

DESK = "bench"
USER = "bench-desk"
TURN_GAP_S = 0.8


def caller_turn_ends(caller: bytes) -> list[int]:
    """Indices of the 20 ms frames that end a caller turn (voiced, then >= 0.8 s quiet)."""
    from voice.audio import TrackAudio, mulaw_decode

    track = TrackAudio(window_s=len(caller) / 8000 + 1)
    track.write(mulaw_decode(caller), 0.0)
    active = track.active(0.0, len(caller) / 8000)
    gap = int(TURN_GAP_S / 0.02)
    ends = []
    for i in np.flatnonzero(active):
        after = active[i + 1:i + 1 + gap]
        if after.size == gap and not after.any():
            ends.append(int(i))
    return ends


def louder(data: bytes, gain: float) -> bytes:
    """Mu-law audio made ``gain`` times louder (clipped): a caller raising her voice."""
    from voice.audio import mulaw_decode, mulaw_encode

    pcm = mulaw_decode(data).astype(np.float64) * gain
    return mulaw_encode(np.clip(pcm, -32768, 32767).astype(np.int16))


def _play(url: str, sid: str, audio: tuple[bytes, bytes], ends: set[int], delay_s: float,
          sent: dict) -> None:
    import websocket
    from twilio.request_validator import RequestValidator

    from voice.tools.frames import FrameBuilder
    from voice.twilio.signature import call_stream_token

    builder = FrameBuilder(sid)
    time.sleep(delay_s)
    headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(STREAM_URL, {})}
    ws = websocket.create_connection(url, header=headers, timeout=600)
    ws.send(builder.connected())
    ws.send(builder.start({"from": "+15550001", "to": "+15550100", "desk": DESK,
                           "token": call_stream_token(TOKEN, sid)}))
    marks = sent.setdefault(sid, {})
    began = time.perf_counter()
    for i, (_, text) in enumerate(builder.call_media(*audio)):
        due = began + (i // 2) * 0.02
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        ws.send(text)
        if i % 2 == 0 and i // 2 in ends:  # the caller's frame (inbound first)
            marks[(i // 2) * 0.02 + 0.02] = time.time()
    ws.send(builder.stop())
    try:
        while ws.recv_data(control_frame=True)[0] != websocket.ABNF.OPCODE_CLOSE:
            pass
    except (websocket.WebSocketConnectionClosedException, OSError):
        pass


def _listen(base: str, events: list, stop: threading.Event, ready: threading.Event) -> None:
    from serve_helpers import login_session

    session = login_session(base, USER)
    with session.get(f"{base}/events?desk={DESK}", stream=True, timeout=600) as resp:
        ready.set()
        kind = None
        for raw in resp.iter_lines(decode_unicode=True):
            if stop.is_set():
                return
            if raw.startswith("event: "):
                kind = raw[7:]
            elif raw.startswith("data: ") and kind in ("transcript", "prompt"):
                events.append((time.time(), kind, json.loads(raw[6:])))


def run_clients(base: str, sids: list[str], audio: tuple[bytes, bytes], ends: list[int],
                stagger_s: float, results: mp.Queue) -> None:
    """Hold an SSE stream, play the calls; put (marks, events) on ``results``."""
    events: list = []
    stop, ready = threading.Event(), threading.Event()
    listener = threading.Thread(target=_listen, args=(base, events, stop, ready), daemon=True)
    listener.start()
    ready.wait(30)
    url = base.replace("http://", "ws://") + "/twilio/stream"
    sent: dict = {}
    players = [threading.Thread(target=_play, args=(url, sid, audio, set(ends), i * stagger_s,
                                                    sent)) for i, sid in enumerate(sids)]
    for p in players:
        p.start()
    for p in players:
        p.join()
    time.sleep(3.0)
    stop.set()
    results.put((sent, events))


def latencies(sent: dict, events: list) -> tuple[list[float], list[float], int]:
    """Per caller turn: seconds to its final transcript and to the next prompt; turns missed."""
    to_final, to_prompt, missed = [], [], 0
    for sid, marks in sent.items():
        mine = [(t, kind, d) for t, kind, d in events if d.get("call_sid") == sid]
        turn_ends = sorted(marks)
        for n, t_end in enumerate(turn_ends):
            wall = marks[t_end]
            nxt = marks[turn_ends[n + 1]] if n + 1 < len(turn_ends) else float("inf")
            finals = [t for t, kind, d in mine if kind == "transcript" and d.get("final")
                      and d.get("speaker") == "caller" and t >= wall - 0.5
                      and abs(float(d.get("t_end", 0)) - t_end) < 1.0]
            if not finals:
                missed += 1
                continue
            to_final.append(finals[0] - wall)
            prompts = [t for t, kind, _ in mine if kind == "prompt" and finals[0] <= t < nxt]
            if prompts:
                to_prompt.append(prompts[0] - wall)
    return to_final, to_prompt, missed


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="Vosk model folder (default: Korean)")
    parser.add_argument("--calls", type=int, default=8, help="the capacity to measure at")
    parser.add_argument("--seconds", type=float, default=24.0, help="audio per call")
    parser.add_argument("--stagger", type=float, default=1.0)
    parser.add_argument("--gain", type=float, default=2.5, help="caller loudness factor")
    args = parser.parse_args(argv)
    from conftest import LiveServer
    from serve_helpers import PASSWORD
    from stream_load import call_audio

    from voice import create_app
    from voice.config import Config

    caller, receptionist = call_audio(args.seconds)
    audio = (louder(caller, args.gain), receptionist)
    ends = caller_turn_ends(audio[0])
    tag = f"{os.getpid() % 10000:04d}"
    print(f"speech to prompt: {len(ends)} caller turns per call of {args.seconds:.0f} s, "
          f"Korean model, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f} "
          "(the CPU may be shared with other jobs)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        config = Config.for_testing(
            twilio_auth_token=TOKEN, public_url=PUBLIC_URL, database_url=f"sqlite:///{tmp}/s.db",
            load_speech_model=True, vosk_model_path=args.model or default_model(),
            load_sentiment_model=True, log_level="WARNING", events_per_login=8)
        app = create_app(config)
        svc = services_of(app)
        print(f"speech {svc.speech_status}; sentiment {svc.scorer_status}; "
              f"playbook {svc.playbook_status}", flush=True)
        svc.store.users.add(USER, PASSWORD, "receptionist", [DESK])
        print(f"{'calls':>5} {'turns':>5} {'final p50':>9} {'final p95':>9} "
              f"{'prompts':>7} {'prompt p50':>10} {'prompt p95':>10} {'missed':>6}")
        with LiveServer(app) as server:
            for calls in sorted({1, args.calls}):
                sids = [f"CA{tag}stp{calls:02d}{i:03d}".ljust(34, "0")[:34] for i in range(calls)]
                ctx = mp.get_context("spawn")
                results: mp.Queue = ctx.Queue()
                client = ctx.Process(target=run_clients, args=(
                    server.url, sids, audio, ends, args.stagger, results))
                client.start()
                sent, events = results.get(timeout=900)
                client.join()
                fin, pro, missed = latencies(sent, events)
                print(f"{calls:5} {len(fin) + missed:5} {pct(fin, .5):9.2f} {pct(fin, .95):9.2f} "
                      f"{len(pro):7} {pct(pro, .5):10.2f} {pct(pro, .95):10.2f} {missed:6}",
                      flush=True)
    print("final: last voiced caller frame sent -> that turn's final transcript at the SSE "
          "client; prompt: -> the call's next prompt event (before the caller speaks again)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
