"""Limits and errors under attack: bad frames, deep JSON, huge bodies and scenarios.

Each test performs the attack of issue 9: frames nested or sized every which
way on a live stream (each is skipped and counted; the call ends ``completed``,
never ``interrupted``), a 1000-deep JSON body on ``/api/simulate`` and on the
console's prompt action (a JSON 400, not an HTML 500), a 5 MB body (413 before
it is parsed), scenarios past their limits, and every 4xx/5xx on ``/api/`` and
``/twilio/`` answered as JSON.
"""

from __future__ import annotations

import json
import re

import pytest
from audio_fixtures import CALLER_WAV, RECEPTIONIST_WAV, read_mulaw_wav
from conftest import LiveServer, login
from twilio_helpers import ScriptedEngine, StreamClient

from voice import create_app
from voice.events import CallStarted
from voice.metrics import counters
from voice.scenarios.script import MAX_TURNS, ScenarioError, parse_scenario
from voice.services import services_of
from voice.twilio.protocol import ProtocolError, parse_frame

CALL = "CA" + "d" * 32
BEARER = {"Authorization": "Bearer test-api-token"}


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


BAD_FRAMES = {
    "too_deep": '{"event":"media","media":' + nested(1000) + "}",   # about 2 kB
    "very_deep": '{"event":"media","media":' + nested(15000) + "}",
    "deep_object": '{"event":"start","start":' + '{"a":' * 3000 + "1" + "}" * 3000 + "}",
    "deep_but_legal": '{"event":"mark","mark":' + nested(50) + "}",
    "huge": '{"event":"media","media":{"payload":"' + "A" * 200_000 + '"}}',
    "not_utf8": b"\xff\xfe\x00garbage",
    "not_json": "{{{{",
    "a_list": "[1, 2, 3]",
    "null": "null",
    "unknown_event": '{"event":"' + "x" * 5000 + '"}',
}


@pytest.mark.parametrize("name", sorted(BAD_FRAMES))
def test_every_bad_frame_is_a_protocol_error(name: str) -> None:
    with pytest.raises(ProtocolError):
        parse_frame(BAD_FRAMES[name], max_bytes=64 * 1024)


def test_bad_frames_mid_call_are_skipped_and_counted_and_the_call_completes(config):
    app = create_app(config, speech=ScriptedEngine())
    caller, receptionist = read_mulaw_wav(CALLER_WAV)[0], read_mulaw_wav(RECEPTIONIST_WAV)[0]
    with LiveServer(app) as live:
        client = StreamClient(live.url, CALL)
        client.begin()
        client.play(caller[:16000], receptionist[:16000])
        for frame in BAD_FRAMES.values():
            client.send(frame)
        client.play(caller[16000:32000], receptionist[16000:32000])
        client.stop()
    call = services_of(app).store.get_call(CALL)
    assert call["status"] == "completed"
    assert counters.get("twilio.streams_interrupted") == 0
    assert counters.get("twilio.stream.errors") == 0
    assert counters.get("twilio.stream.too_deep") >= 3
    assert counters.get("twilio.stream.too_large") >= 1


def test_a_deep_scenario_file_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="nested too deeply"):
        parse_scenario("turns: " + nested(20000), "deep.yaml", max_bytes=1 << 20)


# --- HTTP bodies ------------------------------------------------------------------------------


def test_a_1000_deep_json_body_on_the_api_is_a_json_400(client) -> None:
    body = '{"title": "x", "turns": ' + nested(1000) + "}"
    response = client.post("/api/simulate", data=body, headers={
        **BEARER, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.is_json and response.get_json()["error"]


def test_a_1000_deep_json_body_on_the_prompt_action_is_a_json_400(app) -> None:
    store = services_of(app).store
    store.open_call(CallStarted(call_sid=CALL, from_number="+15550001", to_number="+15550100",
                                desk="front-desk"))  # a live call of her desk
    client = app.test_client()
    login(client, store)
    page = client.get("/console").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post(f"/console/calls/{CALL}/prompts/p1", data=nested(1000),
                           headers={"Content-Type": "application/json", "X-CSRF-Token": token,
                                    "X-CSRFToken": token})
    assert response.status_code == 400
    assert response.is_json


def test_a_5_mb_body_is_refused_with_413_json(client) -> None:
    response = client.post("/api/simulate", data=b"x" * (5 << 20),
                           headers={**BEARER, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.is_json


def test_a_twilio_webhook_body_over_the_limit_is_413_json(config) -> None:
    app = create_app(config.replace(max_request_bytes=4096))
    response = app.test_client().post("/twilio/voice", data={"From": "x" * 10_000})
    assert response.status_code == 413
    assert response.is_json and response.get_json()["error"] == "request_entity_too_large"


def scenario(turns: int, text: str = "hello") -> dict:
    return {"title": "t", "caller": "+15550001",
            "turns": [{"speaker": "caller", "at": i, "text": text} for i in range(turns)]}


def test_a_scenario_past_the_size_limit_is_refused_before_parsing(config) -> None:
    app = create_app(config.replace(max_scenario_bytes=64 * 1024))
    body = json.dumps(scenario(10, "word " * 20_000))
    response = app.test_client().post("/api/simulate", data=body, headers={
        **BEARER, "Content-Type": "application/json"})
    assert response.status_code == 413 and response.is_json


def test_scenarios_with_too_many_turns_long_turns_or_no_end_are_refused(client) -> None:
    cases = [scenario(MAX_TURNS + 1), scenario(2, "x" * 2500),
             {**scenario(1), "turns": [{"speaker": "caller", "at": 1e9, "text": "hi"}]}]
    for body in cases:
        response = client.post("/api/simulate", json=body, headers=BEARER)
        assert response.status_code == 400, response.get_json()
        assert response.get_json()["error"] == "invalid_scenario"


# --- JSON errors on /api/ and /twilio/ --------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/api/nowhere", 404),
    ("GET", "/twilio/nowhere", 404),
    ("GET", "/twilio/voice", 405),
    ("DELETE", "/api/calls", 405),
    ("POST", "/twilio/voice", 403),
    ("GET", "/api/calls", 401),
])
def test_api_and_twilio_errors_are_json(client, method: str, path: str, status: int) -> None:
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.is_json, response.data[:200]
    assert set(response.get_json()) >= {"error", "message"}


def test_an_unexpected_failure_on_the_api_is_a_json_500(app, monkeypatch) -> None:
    store = services_of(app).store

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(store, "list_calls", broken)
    response = app.test_client().get("/api/calls", headers=BEARER)
    assert response.status_code == 500
    assert response.is_json and response.get_json()["error"] == "internal_server_error"
    assert b"disk is on fire" not in response.data


def test_pages_still_get_html_errors(client) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404 and response.mimetype == "text/html"
