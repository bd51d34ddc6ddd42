"""WS /twilio/stream over a real loopback socket, with Twilio-shaped frames.

The app is served by werkzeug on 127.0.0.1 in a thread; a real WebSocket
client (websocket-client) plays Twilio's side with frames built from the
committed 8 kHz mu-law recordings.  The fast tests use a scripted ASR engine
(one "word" per second of audio) to show what each call kept; the slow test
runs the real Vosk engine with the Korean model end to end, API included.
"""

import json
import logging
import threading
import xml.etree.ElementTree as ET
from itertools import pairwise

import numpy as np
import pytest
import websocket
from audio_fixtures import CALLER_WAV, RECEPTIONIST_WAV, read_mulaw_wav
from conftest import LiveServer, korean_model, running_app
from twilio.request_validator import RequestValidator
from twilio_helpers import TOKEN, ScriptedEngine, StreamClient, close_code, heard_as, wait_for

from voice import create_app
from voice.audio import mulaw_decode
from voice.metrics import counters
from voice.services import services_of
from voice.twilio.signature import call_stream_token

CALL_A = "CA" + "a" * 32
CALL_B = "CA" + "b" * 32
MAX_FRAME = 4096


@pytest.fixture(scope="module")
def recordings() -> tuple[bytes, bytes]:
    """(caller, receptionist) raw mu-law bytes of the committed conversation."""
    return read_mulaw_wav(CALLER_WAV)[0], read_mulaw_wav(RECEPTIONIST_WAV)[0]


@pytest.fixture
def stream_app(config):
    with running_app(config.replace(max_frame_bytes=MAX_FRAME), speech=ScriptedEngine()) as app:
        yield app


def record(app, call_sid: str) -> dict:
    return services_of(app).store.get_call(call_sid)


def closed_record(app, call_sid: str) -> dict:
    assert wait_for(lambda: (record(app, call_sid) or {}).get("status", "live") != "live")
    return record(app, call_sid)


def words_of(call: dict, speaker: str) -> list[str]:
    return [u["text"] for u in call["utterances"] if u["speaker"] == speaker and u["final"]]


# --- a whole call ------------------------------------------------------------------------------


def test_a_call_streams_into_its_session_and_record(stream_app, server, recordings):
    caller, receptionist = recordings
    client = StreamClient(server.url, CALL_A)
    client.begin(**{"from": "+15550001", "to": "+15550100", "desk": "front-desk"})
    sent = client.play(caller, receptionist)
    client.stop()
    call = record(stream_app, CALL_A)
    assert call["status"] == "completed" and call["ended_at"]
    assert (call["from"], call["to"], call["desk"]) == ("+15550001", "+15550100", "front-desk")
    assert call["stats"]["chunks_in"] == sent and call["stats"]["chunks_dropped"] == 0
    for speaker in ("caller", "receptionist"):
        words = words_of(call, speaker)
        # each track heard in its own voice: inbound is the caller, outbound the receptionist
        assert len(words) >= 3 and words == heard_as(speaker, len(words)), (speaker, words)
    assert counters.get("twilio.streams_started") == counters.get("twilio.streams_completed") == 1
    assert not [k for k in counters.snapshot() if k.startswith("twilio.stream.")]


def test_mark_and_dtmf_are_logged_without_the_digits(server, recordings, caplog):
    client = StreamClient(server.url, CALL_A)
    client.begin()
    with caplog.at_level(logging.INFO, logger="voice.twilio.media_socket"):
        client.send(client.builder.mark("greeting-done"))
        client.send(client.builder.dtmf("7"))
        client.stop()
    assert f"call {CALL_A}: mark 'greeting-done'" in caplog.text
    assert f"call {CALL_A}: caller pressed a key" in caplog.text
    assert "pressed 7" not in caplog.text  # the digits a caller keys in can be PHI


# --- the stream is bound to its call by the voice webhook's token ------------------------------


def test_the_token_from_the_voice_webhook_opens_the_stream(stream_app, server, recordings):
    form = {"CallSid": CALL_A, "From": "+15550001", "To": "+15550100"}
    url = "https://coach.example.com/twilio/voice"
    headers = {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, form)}
    answer = stream_app.test_client().post("/twilio/voice", data=form, headers=headers)
    assert answer.status_code == 200
    params = {p.get("name"): p.get("value") for p in ET.fromstring(answer.data).iter("Parameter")}
    client = StreamClient(server.url, CALL_A)
    client.begin(token=params["token"])
    client.play(recordings[0][:16000], recordings[1][:16000])
    client.stop()
    assert record(stream_app, CALL_A)["status"] == "completed"
    assert counters.get("twilio.stream.bad_call_token") == 0


@pytest.mark.parametrize(
    ("case", "token"),
    [
        ("missing", None),
        ("empty", ""),
        ("wrong", "0" * 64),
        ("made with another auth token", call_stream_token("not-the-token", CALL_A)),
        ("another call's", call_stream_token(TOKEN, CALL_B)),
    ],
)
def test_start_without_this_calls_token_is_refused_and_nothing_is_recorded(
    stream_app, server, recordings, caplog, case, token
):
    neighbour = neighbour_call(server.url, recordings, 4.0)
    client = StreamClient(server.url, CALL_A)
    with caplog.at_level(logging.WARNING, logger="voice.twilio.media_socket"):
        client.begin(token=token)
        assert close_code(client) == 1008, case  # policy violation: the server closed it
    assert_neighbour_unharmed(stream_app, neighbour)
    svc = services_of(stream_app)
    assert record(stream_app, CALL_A) is None and svc.calls.get(CALL_A) is None, case
    assert counters.get("twilio.stream.bad_call_token") == 1
    assert counters.get("twilio.streams_started") == 1  # the neighbour only
    assert counters.get("twilio.streams_interrupted") == 0
    assert f"call {CALL_A}: refused stream MZ" in caplog.text


def test_a_replayed_signature_cannot_take_over_a_live_call(stream_app, server, recordings):
    svc = services_of(stream_app)
    caller = StreamClient(server.url, CALL_A)
    caller.begin()
    caller.play(recordings[0][:16000], recordings[1][:16000])
    assert wait_for(lambda: svc.calls.get(CALL_A) is not None)
    live = svc.calls.get(CALL_A)
    # Someone with a captured upgrade signature and the token of their own call B:
    intruder = StreamClient(server.url, CALL_A)
    intruder.begin(token=call_stream_token(TOKEN, CALL_B), **{"from": "+15559999"})
    intruder.wait_closed(timeout=10)
    assert svc.calls.get(CALL_A) is live
    caller.play(recordings[0][16000:32000], recordings[1][16000:32000])
    caller.stop()
    call = record(stream_app, CALL_A)
    assert call["status"] == "completed" and call["from"] == "+15550001"
    assert words_of(call, "caller") and call["stats"]["chunks_dropped"] == 0
    assert counters.get("twilio.stream.bad_call_token") == 1
    assert counters.get("twilio.streams_started") == 1


def test_insecure_dev_mode_needs_no_token(config, recordings):
    app = create_app(config.replace(twilio_auth_token="", insecure_dev=True),
                     speech=ScriptedEngine())
    try:
        with LiveServer(app) as live:
            client = StreamClient(live.url, CALL_A, headers={"X-Unsigned": "yes"})  # no signature
            client.begin(token=None)
            client.play(recordings[0][:16000], recordings[1][:16000])
            client.stop()
    finally:
        services_of(app).calls.end_all("interrupted")
    assert record(app, CALL_A)["status"] == "completed"
    assert counters.get("twilio.stream.bad_call_token") == 0


# --- bad input: each one logged and counted; the call keeps what it has; a neighbour is fine ----


def neighbour_call(url: str, audio: tuple[bytes, bytes], seconds: float) -> threading.Thread:
    """A second call streaming normally at the same time."""

    def run() -> None:
        client = StreamClient(url, CALL_B)
        client.begin()
        client.play(*audio, pace=4.0, until_s=seconds)
        client.stop()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def assert_neighbour_unharmed(app, thread: threading.Thread) -> dict:
    """Call B completed with its words and nothing dropped; returns its record."""
    thread.join(60)
    call = record(app, CALL_B)
    assert call["status"] == "completed"
    assert words_of(call, "caller") and words_of(call, "receptionist")
    assert call["stats"]["chunks_dropped"] == 0
    return call


def assert_kept_prefix(call: dict, neighbour: dict) -> None:
    """Call A kept words for the audio it sent before trouble (B sent the same audio)."""
    assert words_of(call, "caller")
    for speaker in ("caller", "receptionist"):
        mine, full = words_of(call, speaker), words_of(neighbour, speaker)
        assert mine == full[: len(mine)], (speaker, mine, full)


def bad_then_good(stream_app, server, recordings, caplog, bad, code: str) -> dict:
    """Call A: 2 s of audio, ``bad(client)``, 2 s more, stop; call B runs alongside.

    B sends the same 4 s cleanly, so A must end with exactly B's words.
    """
    neighbour = neighbour_call(server.url, recordings, 4.0)
    client = StreamClient(server.url, CALL_A)
    with caplog.at_level(logging.WARNING, logger="voice.twilio.media_socket"):
        client.begin()
        client.play(recordings[0][:16000], recordings[1][:16000])
        bad(client)
        client.play(recordings[0][16000:32000], recordings[1][16000:32000])
        client.stop()
    other = assert_neighbour_unharmed(stream_app, neighbour)
    assert counters.get(f"twilio.stream.{code}") == 1
    assert f"call {CALL_A}: bad stream input [{code}]" in caplog.text
    call = record(stream_app, CALL_A)
    assert call["status"] == "completed"
    for speaker in ("caller", "receptionist"):
        assert words_of(call, speaker) == words_of(other, speaker)
    return call


def test_frame_that_is_not_json(stream_app, server, recordings, caplog):
    bad_then_good(stream_app, server, recordings, caplog,
                  lambda c: c.send("{this is not json"), "bad_json")


def test_binary_frame_that_is_not_text(stream_app, server, recordings, caplog):
    bad_then_good(stream_app, server, recordings, caplog,
                  lambda c: c.send(b"\xff\xfe\x00\x01"), "not_text")


def test_payload_that_is_not_base64(stream_app, server, recordings, caplog):
    def bad(client: StreamClient) -> None:
        frame = json.loads(client.builder.media("inbound", b"\xff" * 160, 2000))
        frame["media"]["payload"] = "*** not base64 ***"
        client.send(json.dumps(frame))

    bad_then_good(stream_app, server, recordings, caplog, bad, "bad_base64")


def test_unknown_event(stream_app, server, recordings, caplog):
    bad_then_good(stream_app, server, recordings, caplog,
                  lambda c: c.send('{"event": "teleport", "streamSid": "MZ1"}'), "unknown_event")


def test_gap_in_sequence_numbers(stream_app, server, recordings, caplog):
    def skip(client: StreamClient) -> None:
        client.builder.sequence += 5

    bad_then_good(stream_app, server, recordings, caplog, skip, "sequence_gap")
    assert "expected sequenceNumber" in caplog.text and "(5 missing)" in caplog.text


def test_media_before_start(stream_app, server, recordings, caplog):
    neighbour = neighbour_call(server.url, recordings, 4.0)
    client = StreamClient(server.url, CALL_A)
    with caplog.at_level(logging.WARNING, logger="voice.twilio.media_socket"):
        client.send(client.builder.connected())
        client.send(client.builder.media("inbound", recordings[0][:160], 0))
        client.send(client.start_message())
        client.play(recordings[0][:16000], recordings[1][:16000])
        client.stop()
    other = assert_neighbour_unharmed(stream_app, neighbour)
    assert counters.get("twilio.stream.media_before_start") == 1
    assert "bad stream input [media_before_start]: inbound chunk 1 of stream MZ" in caplog.text
    assert_kept_prefix(record(stream_app, CALL_A), other)


def test_oversized_frame_is_skipped_and_the_call_goes_on(
    stream_app, server, recordings, caplog
):
    neighbour = neighbour_call(server.url, recordings, 4.0)
    client = StreamClient(server.url, CALL_A)
    with caplog.at_level(logging.WARNING, logger="voice.twilio.media_socket"):
        client.begin()
        client.play(recordings[0][:16000], recordings[1][:16000])
        client.send(client.builder.media("inbound", b"\xff" * MAX_FRAME, 2000))
        client.stop()
        call = closed_record(stream_app, CALL_A)
    other = assert_neighbour_unharmed(stream_app, neighbour)
    assert counters.get("twilio.stream.too_large") == 1
    assert f"call {CALL_A}: bad stream input [too_large]" in caplog.text
    assert call["status"] == "completed"
    assert_kept_prefix(call, other)


def test_frame_far_over_the_limit_closes_the_socket_and_the_call_keeps_its_record(
    stream_app, server, recordings, caplog
):
    neighbour = neighbour_call(server.url, recordings, 4.0)
    client = StreamClient(server.url, CALL_A)
    with caplog.at_level(logging.WARNING, logger="voice.twilio.media_socket"):
        client.begin()
        client.play(recordings[0][:16000], recordings[1][:16000])
        client.send(client.builder.media("inbound", b"\xff" * (4 * MAX_FRAME), 2000))
        client.wait_closed()
        call = closed_record(stream_app, CALL_A)
    other = assert_neighbour_unharmed(stream_app, neighbour)
    assert counters.get("twilio.stream.too_large") == 1
    assert f"call {CALL_A}: bad stream input [too_large]" in caplog.text
    assert call["status"] == "interrupted"
    assert_kept_prefix(call, other)


def test_client_that_vanishes_without_stop(stream_app, server, recordings, caplog):
    neighbour = neighbour_call(server.url, recordings, 4.0)
    client = StreamClient(server.url, CALL_A)
    with caplog.at_level(logging.WARNING, logger="voice.twilio.media_socket"):
        client.begin()
        client.play(recordings[0][:16000], recordings[1][:16000])
        client.vanish()
        call = closed_record(stream_app, CALL_A)
    other = assert_neighbour_unharmed(stream_app, neighbour)
    assert call["status"] == "interrupted"
    assert_kept_prefix(call, other)
    assert counters.get("twilio.streams_interrupted") == 1
    assert f"call {CALL_A}: stream ended without stop" in caplog.text


def test_a_failing_frame_handler_is_logged_and_the_stream_goes_on(
    stream_app, server, recordings, caplog, monkeypatch
):
    import voice.twilio.media_socket as stream_module

    calls = {"n": 0}

    def flaky_decode(payload: bytes):
        calls["n"] += 1
        if calls["n"] == 10:
            raise RuntimeError("decoder exploded")
        return mulaw_decode(payload)

    monkeypatch.setattr(stream_module, "mulaw_decode", flaky_decode)
    client = StreamClient(server.url, CALL_A)
    with caplog.at_level(logging.ERROR, logger="voice.twilio.media_socket"):
        client.begin()
        client.play(recordings[0][:16000], recordings[1][:16000])
        client.stop()
    assert counters.get("twilio.stream.errors") == 1
    assert f"call {CALL_A}: handling a media message failed" in caplog.text
    assert record(stream_app, CALL_A)["status"] == "completed"


@pytest.fixture
def quick_start_server(config):
    app = create_app(config.replace(stream_start_timeout_s=0.6), speech=ScriptedEngine())
    with LiveServer(app) as live:
        yield live


def test_silent_client_is_closed_after_the_start_timeout(quick_start_server, caplog):
    client = StreamClient(quick_start_server.url, CALL_A)
    with caplog.at_level(logging.WARNING, logger="voice.twilio.media_socket"):
        client.send(client.builder.connected())
        client.wait_closed(timeout=10)
    assert counters.get("twilio.stream.no_start") == 1


def test_a_client_sending_marks_instead_of_start_is_closed_all_the_same(quick_start_server):
    client = StreamClient(quick_start_server.url, CALL_A)
    client.send(client.builder.connected())
    stop = threading.Event()

    def keep_marking() -> None:
        while not stop.wait(0.1):
            try:
                client.send(client.builder.mark("keep-alive"))
            except (websocket.WebSocketException, OSError):
                return

    marker = threading.Thread(target=keep_marking, daemon=True)
    marker.start()
    try:
        client.wait_closed(timeout=10)
    finally:
        stop.set()
    assert counters.get("twilio.stream.no_start") == 1


def test_status_callback_during_the_stream_ends_the_call_once(stream_app, server, recordings):
    svc = services_of(stream_app)
    client = StreamClient(server.url, CALL_A)
    client.begin()
    client.play(recordings[0][:8000], recordings[1][:8000])
    assert wait_for(lambda: svc.calls.get(CALL_A) is not None)
    assert svc.calls.end(CALL_A, "completed")
    client.play(recordings[0][8000:16000], recordings[1][8000:16000])
    client.stop()
    assert record(stream_app, CALL_A)["status"] == "completed"
    assert counters.get("asr.chunks_dropped") == 0
    # the audio sent after the end was ignored, not decoded: at most the first second's chunks
    assert record(stream_app, CALL_A)["stats"]["chunks_in"] <= 2 * 50


# --- the stream's other problem codes ------------------------------------------------------------


def test_a_second_start_on_the_same_stream_is_ignored(stream_app, server, recordings, caplog):
    bad_then_good(stream_app, server, recordings, caplog,
                  lambda c: c.send(c.start_message(**{"from": "+15559999"})), "duplicate_start")
    assert record(stream_app, CALL_A)["from"] == "+15550001"  # the first start's caller stays


def test_media_for_another_stream_sid_is_ignored(stream_app, server, recordings, caplog):
    def foreign(client: StreamClient) -> None:
        frame = json.loads(client.builder.media("inbound", recordings[0][:160], 2000))
        frame["streamSid"] = "MZ" + "9" * 32
        client.send(json.dumps(frame))

    bad_then_good(stream_app, server, recordings, caplog, foreign, "wrong_stream")
    assert f"media for stream MZ{'9' * 32}" in caplog.text


def test_a_stream_in_another_audio_format_keeps_its_call_but_not_its_audio(
    stream_app, server, recordings, caplog
):
    client = StreamClient(server.url, CALL_A)
    start = json.loads(client.start_message())
    start["start"]["mediaFormat"] = {"encoding": "audio/x-l16", "sampleRate": 16000,
                                     "channels": 1}
    with caplog.at_level(logging.WARNING, logger="voice.twilio.media_socket"):
        client.send(client.builder.connected())
        client.send(json.dumps(start))
        client.play(recordings[0][:16000], recordings[1][:16000])
        client.stop()
    assert counters.get("twilio.stream.unsupported_format") == 1
    assert f"call {CALL_A}: bad stream input [unsupported_format]" in caplog.text
    call = record(stream_app, CALL_A)
    assert call["status"] == "completed"
    assert call["utterances"] == [] and call["stats"]["chunks_in"] == 0


def test_stop_before_start_ends_the_stream_without_a_call(stream_app, server, caplog):
    client = StreamClient(server.url, CALL_A)
    with caplog.at_level(logging.WARNING, logger="voice.twilio.media_socket"):
        client.send(client.builder.connected())
        client.stop()  # the server closes the socket: the stream is over
    assert counters.get("twilio.stream.stop_before_start") == 1
    assert "bad stream input [stop_before_start]: stop for stream MZ" in caplog.text
    assert record(stream_app, CALL_A) is None and counters.get("twilio.streams_started") == 0


# --- a call while it is live: the API, a newer stream, the status callback ---------------------


def api_call(app, call_sid: str, may_be_missing: bool = False) -> dict:
    """GET /api/calls/<sid>; ``may_be_missing``: a 404 (start not yet handled) reads as {}."""
    response = app.test_client().get(f"/api/calls/{call_sid}",
                                     headers={"Authorization": "Bearer test-api-token"})
    if may_be_missing and response.status_code == 404:
        return {}
    assert response.status_code == 200, response.data
    return response.get_json()


def finals_so_far(call: dict | None, speaker: str) -> list[str]:
    """Final words of ``speaker`` in a record that may not exist yet."""
    return words_of(call or {"utterances": []}, speaker)


def test_a_live_call_is_readable_through_the_api_before_it_ends(stream_app, server, recordings):
    client = StreamClient(server.url, CALL_A)
    client.begin()
    client.play(recordings[0][:24000], recordings[1][:24000])  # 3 s, no stop yet
    assert wait_for(lambda: len(finals_so_far(api_call(stream_app, CALL_A, True), "caller")) >= 2)
    live = api_call(stream_app, CALL_A)
    assert live["status"] == "live" and not live["ended_at"]
    assert live["from"] == "+15550001"
    client.stop()
    done = api_call(stream_app, CALL_A)
    assert done["status"] == "completed"
    heard_live = [u["text"] for u in live["utterances"] if u["speaker"] == "caller"]
    assert words_of(done, "caller")[: len(heard_live)] == heard_live


def test_a_second_stream_takes_the_call_over_through_the_websocket(
    stream_app, server, recordings
):
    svc = services_of(stream_app)
    first = StreamClient(server.url, CALL_A)
    first.begin()
    first.play(recordings[0][:16000], recordings[1][:16000])
    assert wait_for(lambda: len(finals_so_far(record(stream_app, CALL_A), "caller")) >= 1)
    old = svc.calls.get(CALL_A)
    assert old is not None and old.stream_sid == "MZ" + CALL_A[2:]
    # Twilio reconnects the call on a new stream (a new streamSid, the call's own token):
    second = StreamClient(server.url, CALL_A)
    second.builder.stream_sid = "MZ" + "c" * 32
    second.begin()
    assert wait_for(lambda: (svc.calls.get(CALL_A) or old) is not old)
    new = svc.calls.get(CALL_A)
    assert old.ended and not new.ended and new.stream_sid == "MZ" + "c" * 32
    before = words_of(record(stream_app, CALL_A), "caller")
    first.play(recordings[0][16000:32000], recordings[1][16000:32000])  # ignored now
    second.play(recordings[0][16000:32000], recordings[1][16000:32000])
    second.stop()
    first.vanish()
    call = record(stream_app, CALL_A)
    assert call["status"] == "completed"  # the one record, closed by the newer stream's stop
    caller = words_of(call, "caller")
    assert caller[: len(before)] == before and len(caller) > len(before)
    assert new.worker.stats["chunks_in"] == 2 * 100  # only the second stream's 2 s
    assert counters.get("twilio.streams_started") == 2


def test_a_signed_status_callback_during_a_live_stream_ends_the_call(
    stream_app, server, recordings
):
    svc = services_of(stream_app)
    client = StreamClient(server.url, CALL_A)
    client.begin()
    client.play(recordings[0][:16000], recordings[1][:16000])
    assert wait_for(lambda: svc.calls.get(CALL_A) is not None)
    form = {"CallSid": CALL_A, "CallStatus": "completed"}
    url = "https://coach.example.com/twilio/status"
    forged = stream_app.test_client().post("/twilio/status", data=form, headers={
        "X-Twilio-Signature": RequestValidator("not-the-token").compute_signature(url, form)})
    assert forged.status_code == 403 and svc.calls.get(CALL_A) is not None
    signed = stream_app.test_client().post("/twilio/status", data=form, headers={
        "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, form)})
    assert signed.status_code == 200
    assert wait_for(lambda: (record(stream_app, CALL_A) or {}).get("status") == "completed")
    assert svc.calls.get(CALL_A) is None
    kept = words_of(record(stream_app, CALL_A), "caller")
    client.play(recordings[0][16000:32000], recordings[1][16000:32000])  # the call is over
    client.stop()
    call = record(stream_app, CALL_A)
    assert call["status"] == "completed" and words_of(call, "caller") == kept
    assert call["stats"]["chunks_in"] <= 2 * 100  # the 2 s after the callback were ignored


# --- the real model, end to end ---------------------------------------------------------------


def active_spans(mulaw: bytes, frame_s: float = 0.02) -> np.ndarray:
    """Per 20 ms frame: is this track speaking (well above its silence)?"""
    pcm = mulaw_decode(mulaw).astype(np.float64)
    step = int(8000 * frame_s)
    frames = pcm[: len(pcm) // step * step].reshape(-1, step)
    return np.sqrt((frames**2).mean(axis=1)) > 300


def share_active(active: np.ndarray, t0: float, t1: float) -> float:
    span = active[int(t0 / 0.02): max(int(t0 / 0.02) + 1, int(t1 / 0.02))]
    return float(span.mean()) if span.size else 0.0


@pytest.mark.slow
def test_real_call_is_transcribed_attributed_stored_and_served(config, database_url, recordings):
    app = create_app(config.replace(load_speech_model=True, database_url=database_url,
                                    vosk_model_path=str(korean_model())))
    svc = services_of(app)
    assert svc.speech is not None, svc.speech_status
    with LiveServer(app) as live:
        client = StreamClient(live.url, CALL_A)
        client.begin()
        client.play(*recordings, pace=3.0)
        client.stop()
        call = svc.store.get_call(CALL_A)
        api = app.test_client().get(f"/api/calls/{CALL_A}",
                                    headers={"Authorization": "Bearer test-api-token"})
    assert call["status"] == "completed" and call["transcribed"]
    assert call["stats"]["chunks_dropped"] == 0
    finals = [u for u in call["utterances"] if u["final"]]
    caller = [u for u in finals if u["speaker"] == "caller"]
    assert caller and all(u["text"].strip() for u in caller)
    assert {u["speaker"] for u in finals} == {"caller", "receptionist"}
    activity = {"caller": active_spans(recordings[0]),
                "receptionist": active_spans(recordings[1])}
    for u in finals:
        other = "receptionist" if u["speaker"] == "caller" else "caller"
        own = share_active(activity[u["speaker"]], u["t_start"], u["t_end"])
        assert own > share_active(activity[other], u["t_start"], u["t_end"]), u
    for speaker in ("caller", "receptionist"):
        mine = [u for u in finals if u["speaker"] == speaker]
        assert all(u["t_start"] <= u["t_end"] for u in mine)
        assert all(a["t_end"] <= b["t_start"] + 0.05 for a, b in pairwise(mine))
    assert api.status_code == 200
    body = api.get_json()
    assert body["call_sid"] == CALL_A and body["status"] == "completed"
    assert [(u["speaker"], u["text"]) for u in body["utterances"] if u["final"]] == [
        (u["speaker"], u["text"]) for u in finals]
