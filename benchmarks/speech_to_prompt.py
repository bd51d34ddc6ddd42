"""Speech to prompt: end of a caller's speech to the card's event at a console's SSE stream.

The app runs in this process (werkzeug on 127.0.0.1) with the real Korean Vosk
model, the real sentiment scorer and the playbook in ``prompts/``.  A separate
process plays the calls as Twilio would (signed upgrade, the call's stream
token, both tracks at real-time pace, calls starting ``--stagger`` s apart) and
holds a receptionist's logged-in ``/events`` stream.

The call is ``SCRIPT``, spoken by espeak-ng's Korean voice when the benchmark
starts: three calm caller turns (quiet, slow, low), then three turns in which
the caller talks over the receptionist, louder, faster and higher.  The Korean
words mean nothing to the English wording model, so the caller reaches "tense"
only through the acoustic and conversational cues the frustration state
measures against the caller's own baseline (loudness, pitch, rate, talking
over); nothing in the product is changed or bypassed for the benchmark.

For every caller turn (voiced frames followed by at least 0.8 s of silence) it
notes the wall time the turn's last voiced frame was sent, then the first caller
``transcript`` final covering that turn and the first ``prompt`` of that call
that reaches the SSE client after it and before the caller's next turn ends.
Printed: p50/p95 of last-voiced-frame → final and last-voiced-frame → prompt,
at 1 call (``--rounds`` calls one after another) and at ``--calls`` at once,
with the load average.  The endpoint silence the service waits for is
included.  Usage::

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
from dataclasses import dataclass
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


# The scripted call: (speaker, Korean text, manner, seconds the turn starts before the
# other party's previous turn ends).  The caller starts calm (quiet, slow, low) and
# then, with the receptionist stalling, speaks over her, louder, faster and higher:
# the acoustic cues the frustration state measures against the caller's own baseline
# (the Korean words mean nothing to the English wording model).
SCRIPT: tuple[tuple[str, str, str, float], ...] = (
    ("caller", "안녕하세요 예약을 바꾸고 싶어요", "calm", 0.0),
    ("receptionist", "성함이 어떻게 되세요", "plain", 0.0),
    ("caller", "김민지입니다 다음 주 화요일 예약이에요", "calm", 0.0),
    ("receptionist", "잠시만 기다려 주세요 확인해 볼게요", "plain", 0.0),
    ("caller", "네 알겠습니다 기다릴게요", "calm", 0.0),
    ("receptionist", "죄송합니다 시스템이 느려서 조금만 더 기다려 주세요", "plain", 0.0),
    ("caller", "벌써 세 번째 전화예요 왜 아무도 다시 전화를 안 해요", "upset", 1.0),
    ("receptionist", "죄송합니다 확인할게요", "plain", 0.0),
    ("caller", "이건 정말 말도 안 돼요 지금 당장 해결해 주세요", "upset", 0.8),
    ("receptionist", "네 바로 처리해 드리겠습니다", "plain", 0.0),
    ("caller", "매니저 바꿔 주세요 더 이상 못 기다려요", "upset", 0.8),
    ("receptionist", "알겠습니다 지금 연결해 드릴게요", "plain", 0.0),
)
# espeak-ng speed (words per minute), pitch (0-99), peak level (dBFS) per manner.
MANNERS = {"calm": (140, 30, -16.0), "plain": (170, 70, -3.0), "upset": (260, 85, -1.0)}
TURN_PAUSE_S = 1.0
RATE = 8000


def _speak(text: str, manner: str, work: Path) -> np.ndarray:
    """One turn spoken by espeak-ng (Korean voice) as 8 kHz int16 PCM, edges trimmed."""
    import subprocess

    speed, pitch, peak = MANNERS[manner]
    raw, out = work / "raw.wav", work / "turn.raw"
    subprocess.run(["espeak-ng", "-v", "ko", "-s", str(speed), "-p", str(pitch), "-w",
                    str(raw), text], check=True, capture_output=True)
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed",
                    "-t", "raw", str(out), "silence", "1", "0.02", "0.5%", "reverse",
                    "silence", "1", "0.02", "0.5%", "reverse", "norm", str(peak)],
                   check=True, capture_output=True)
    return np.frombuffer(out.read_bytes(), dtype=np.int16)


def scripted_call(seconds: float) -> tuple[bytes, bytes]:
    """Both tracks (mu-law) of ``SCRIPT``, padded with quiet line noise to ``seconds``."""
    from voice.audio import mulaw_encode

    with tempfile.TemporaryDirectory() as tmp:
        turns = [(who, _speak(text, manner, Path(tmp)), early)
                 for who, text, manner, early in SCRIPT]
    placed, previous_end = [], 0.3 - TURN_PAUSE_S
    for who, pcm, early in turns:
        start = previous_end - early if early else previous_end + TURN_PAUSE_S
        placed.append((who, int(start * RATE), pcm))
        previous_end = start + pcm.size / RATE
    size = max(int(seconds * RATE), max(s + p.size for _, s, p in placed) + RATE)
    rng = np.random.default_rng(7)
    tracks = {who: rng.normal(0, 20, size) for who in ("caller", "receptionist")}
    for who, start, pcm in placed:
        tracks[who][start:start + pcm.size] += pcm
    return tuple(mulaw_encode(np.clip(tracks[w], -32768, 32767).astype(np.int16))
                 for w in ("caller", "receptionist"))


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
            elif raw.startswith("data: ") and kind in ("transcript", "prompt", "frustration"):
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


def play(base: str, sids: list[str], audio: tuple[bytes, bytes], ends: list[int],
         stagger_s: float) -> tuple[dict, list]:
    """Play ``sids`` from a separate process; the turn-end send times and the SSE events."""
    ctx = mp.get_context("spawn")
    results: mp.Queue = ctx.Queue()
    client = ctx.Process(target=run_clients, args=(base, sids, audio, ends, stagger_s, results))
    client.start()
    sent, events = results.get(timeout=900)
    client.join()
    return sent, events


@dataclass
class Turn:
    """One caller turn: when its last voiced frame was sent, and what followed."""

    call_sid: str
    t_end: float  # call time of the turn's end
    to_final: float | None  # seconds to the turn's final caller transcript at SSE
    to_prompt: float | None = None  # seconds to the first prompt this turn brought up
    early: bool = False  # that prompt reached the SSE client before the turn ended


PROMPT_SLACK_S = 0.5  # a prompt's call time may lie this far past the turn's last frame


def turns_of(sent: dict, events: list) -> tuple[list[Turn], int]:
    """Per caller turn: seconds from its last voiced frame to its final and to its prompt.

    A prompt belongs to a caller turn when the coach raised it on that turn's
    words or frustration state: its call time ``t`` is that of a caller
    transcript or frustration event, falling after the previous turn's end and at
    most ``PROMPT_SLACK_S`` past this one's.  One that came while the
    caller was still talking (from a partial) counts as 0 s and is marked early.
    Prompts raised on the receptionist's speech (pacing let a card through) are
    no turn's; their number is returned with the turns.
    """
    turns, other = [], 0
    for sid, marks in sent.items():
        mine = [(t, kind, d) for t, kind, d in events if d.get("call_sid") == sid]
        turn_ends = sorted(marks)
        call_turns = []
        for t_end in turn_ends:
            wall = marks[t_end]
            finals = [t for t, kind, d in mine if kind == "transcript" and d.get("final")
                      and d.get("speaker") == "caller" and t >= wall - 0.5
                      and abs(float(d.get("t_end", 0)) - t_end) < 1.0]
            call_turns.append(Turn(sid, t_end, finals[0] - wall if finals else None))
        caller_times = {round(float(d.get("t", -1.0)), 2) for _, kind, d in mine
                        if kind == "frustration"}
        caller_times |= {round(float(d.get("t_end", -1.0)), 2) for _, kind, d in mine
                         if kind == "transcript" and d.get("speaker") == "caller"}
        for arrived, kind, d in mine:
            if kind != "prompt":
                continue
            t = float(d.get("t", 0.0))
            owner = next((n for n, end in enumerate(turn_ends) if t <= end + PROMPT_SLACK_S
                          and (n == 0 or t > turn_ends[n - 1] + PROMPT_SLACK_S)), None)
            if owner is None or round(t, 2) not in caller_times:
                other += 1
                continue
            turn = call_turns[owner]
            if turn.to_prompt is None:
                wait = arrived - marks[turn.t_end]
                turn.to_prompt, turn.early = max(0.0, wait), wait < 0
        turns += call_turns
    return turns, other


def show_call(sid: str, events: list) -> None:
    """The call's caller finals, frustration states and prompts, in order."""
    for _, kind, d in events:
        if d.get("call_sid") != sid:
            continue
        if kind == "transcript" and d.get("final"):
            print(f"    {d.get('t_end', 0):6.2f} {d.get('speaker')}: {d.get('text')}")
        elif kind == "frustration":
            print(f"    {d.get('t', 0):6.2f} frustration {d.get('level')} score "
                  f"{d.get('score')} utterance {d.get('utterance_score')} {d.get('reasons')}")
        elif kind == "prompt":
            print(f"    {d.get('t', 0):6.2f} prompt {d.get('id')}: {str(d.get('text'))[:50]}")


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
    parser.add_argument("--seconds", type=float, default=0.0,
                        help="pad each call to this many seconds (default: the script's length)")
    parser.add_argument("--stagger", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=4,
                        help="single calls played one after another for the 1-call figure")
    parser.add_argument("--show", action="store_true",
                        help="print the first call's transcripts, frustration states and prompts")
    args = parser.parse_args(argv)
    from conftest import LiveServer
    from serve_helpers import PASSWORD

    from voice import create_app
    from voice.config import Config

    audio = scripted_call(args.seconds)
    ends = caller_turn_ends(audio[0])
    tag = f"{os.getpid() % 10000:04d}"
    print(f"speech to prompt: {len(ends)} caller turns per call of {len(audio[0]) / RATE:.0f} s, "
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
              f"{'prompts':>7} {'early':>5} {'prompt p50':>10} {'prompt p95':>10} "
              f"{'paced':>5} {'missed':>6} {'load':>5}")
        with LiveServer(app) as server:
            warm = (audio[0][:8 * RATE], audio[1][:8 * RATE])
            play(server.url, [f"CA{tag}warm".ljust(34, "0")], warm, [], 0.0)
            for calls in sorted({1, args.calls}):
                rounds = args.rounds if calls == 1 else 1
                sids = [f"CA{tag}stp{calls:02d}{r:02d}{i:03d}".ljust(34, "0")[:34]
                        for r in range(rounds) for i in range(calls)]
                loads, sent, events = [], {}, []
                for r in range(rounds):
                    loads.append(os.getloadavg()[0])
                    more_sent, more_events = play(server.url, sids[r * calls:(r + 1) * calls],
                                                  audio, ends, args.stagger)
                    sent.update(more_sent)
                    events += more_events
                loads.append(os.getloadavg()[0])
                turns, other = turns_of(sent, events)
                fin = [t.to_final for t in turns if t.to_final is not None]
                pro = [t.to_prompt for t in turns if t.to_prompt is not None]
                missed = len(turns) - len(fin)
                print(f"{calls:5} {len(turns):5} {pct(fin, .5):9.2f} {pct(fin, .95):9.2f} "
                      f"{len(pro):7} {sum(t.early for t in turns):5} {pct(pro, .5):10.2f} "
                      f"{pct(pro, .95):10.2f} {other:5} {missed:6} {max(loads):5.2f}",
                      flush=True)
                if args.show:
                    show_call(sids[0], events)
                    for turn in turns:
                        if turn.call_sid == sids[0]:
                            print(f"    turn ending {turn.t_end:6.2f}: final {turn.to_final}, "
                                  f"prompt {turn.to_prompt}{' (early)' if turn.early else ''}")
    print("final: last voiced caller frame sent -> that turn's final transcript at the SSE "
          "client; prompt: -> the first prompt event the turn brought up (early: it came "
          "while the caller was still talking, counted as 0 s); paced: prompts raised on the "
          "receptionist's speech, no caller turn's; load: the 1-minute load average")
    return 0


if __name__ == "__main__":
    sys.exit(main())
