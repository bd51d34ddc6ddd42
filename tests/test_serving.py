"""The serving model under attack: a real ``voice serve`` (gunicorn, the guarded worker).

Each test starts the ``voice serve`` command on loopback and attacks it with
real sockets: request heads trickled a byte every few seconds, signed Media
Streams that never ``start``, and far more ``/events`` streams than one login
may hold.  ``/healthz`` must keep answering and a call streamed meanwhile must
still be transcribed.  The figures (latencies) are measured by
``benchmarks/slow_clients.py``, not asserted here.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import websocket
from audio_fixtures import CALLER_WAV, RECEPTIONIST_WAV, read_mulaw_wav
from conftest import korean_model, login
from serve_helpers import (
    HostileClients,
    IdleWebSockets,
    ServeProcess,
    login_session,
    timed_get,
)
from twilio_helpers import StreamClient, stream_headers, wait_for

from voice.records import RecordStore
from voice.services import services_of
from voice.serving import RequestHead

CALL = "CA" + "5" * 32


def test_a_request_head_is_complete_only_with_its_announced_body() -> None:
    head = RequestHead(deadline=0)
    assert head.feed(b"POST /twilio/voice HTTP/1.1\r\nContent-Length: 5\r\n", 100) is None
    assert head.feed(b"\r\nab", 100) is None
    assert head.feed(b"cde", 100) == 0
    assert not head.is_stream and head.path == "/twilio/voice"
    assert RequestHead(0).feed(b"GET /events?desk=a HTTP/1.1\r\n\r\n", 100) == 0
    too_big = RequestHead(0)
    assert too_big.feed(b"POST /api/simulate HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 100) == 413
    assert RequestHead(0).feed(b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000, 100) == 431


def test_a_trickled_request_head_gets_408_and_is_closed(tmp_path: Path) -> None:
    with ServeProcess(tmp_path, {"VOICE_HEADER_TIMEOUT_S": "2"}) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            began = time.monotonic()
            answer, sent, head = b"", 0, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            for byte in head:
                try:
                    sock.send(bytes([byte]))
                    sent += 1
                except OSError:
                    break
                sock.settimeout(0.5)
                try:
                    answer = sock.recv(200)
                    break
                except TimeoutError:
                    continue
            assert answer.startswith(b"HTTP/1.1 408"), answer
            # cut off by the 2 s head deadline, not by the end of the trickle (0.5 s a byte)
            assert sent < len(head), sent
            print(f"408 after {time.monotonic() - began:.1f} s, {sent} bytes")


def test_a_body_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    with ServeProcess(tmp_path, {"VOICE_MAX_REQUEST_BYTES": "4096"}) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"POST /api/simulate HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 5000000\r\n\r\n")
            answer = sock.recv(500)
    assert answer.startswith(b"HTTP/1.1 413") and b"application/json" in answer


def test_one_login_holds_at_most_its_quota_of_event_streams(app) -> None:
    client = app.test_client()
    login(client, services_of(app).store)
    held = [client.get("/events") for _ in range(4)]
    assert all(r.status_code == 200 for r in held)
    refused = client.get("/events")
    assert refused.status_code == 429 and refused.is_json
    assert refused.get_json()["error"] == "too_many_streams"
    held.pop().close()  # a closed tab frees its slot
    again = client.get("/events")
    assert again.status_code == 200
    for response in reversed([*held, again]):  # the test client's contexts unwind in order
        response.close()


def test_a_full_stream_pool_answers_503_at_once_and_healthz_still_answers(tmp_path: Path):
    with ServeProcess(tmp_path, {"VOICE_STREAM_THREADS": "4"}) as server:
        idle = IdleWebSockets(server.url, 4).start()
        try:
            assert wait_for(lambda: idle.counts["opened"] >= 4, timeout=20)
            ws_url = server.url.replace("http://", "ws://") + "/twilio/stream"
            with pytest.raises(websocket.WebSocketBadStatusException) as refused:
                websocket.create_connection(ws_url, header=stream_headers(), timeout=10)
            assert refused.value.status_code == 503
            assert timed_get(server.url + "/healthz")[0] == 200
        finally:
            idle.stop()


@pytest.mark.slow
def test_slow_idle_and_greedy_clients_do_not_starve_healthz_or_a_live_call(tmp_path: Path) -> None:
    caller, receptionist = (read_mulaw_wav(p)[0] for p in (CALLER_WAV, RECEPTIONIST_WAV))
    env = {"VOICE_LOAD_SPEECH_MODEL": "1", "VOSK_MODEL_PATH": str(korean_model())}
    with ServeProcess(tmp_path, env) as server:
        server.voice("users", "add", "desk", "--role", "receptionist", "--desk", "front-desk")
        session = login_session(server.url, "desk")
        with HostileClients(server, session, slow=100, idle=200, sse=70) as attack:
            assert attack.held(timeout=60)
            health = [timed_get(server.url + "/healthz") for _ in range(5)]
            client = StreamClient(server.url, CALL)
            client.begin()
            client.play(caller[: 8000 * 12], receptionist[: 8000 * 12], pace=1.0)
            health += [timed_get(server.url + "/healthz") for _ in range(5)]
            client.stop()
            # past the 5 s start timeout every idle stream was cut off (and came back)
            wait_for(lambda: attack.idle.counts["cut_off"] >= 200, timeout=30)
        greedy, idle = attack.greedy, attack.idle
        log = server.log()
    assert all(status == 200 for status, _ in health), health
    assert greedy.statuses[200] == 4 and greedy.statuses[429] == 66, greedy.statuses
    assert idle.counts["cut_off"] >= 200, idle.counts
    call = RecordStore(f"sqlite:///{server.db}").get_call(CALL)
    assert call["status"] == "completed", call
    finals = {u["speaker"] for u in call["utterances"] if u["final"] and u["text"].strip()}
    assert finals == {"caller", "receptionist"}
    assert call["stats"]["chunks_dropped"] == 0
    assert "Traceback" not in log
