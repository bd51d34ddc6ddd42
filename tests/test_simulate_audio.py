"""``voice simulate --audio``: espeak-ng rendering, and streaming over the real Twilio socket.

Rendering tests check that each turn lands on its speaker's track at its time
and loudness.  The CLI tests run against a live loopback server: the fast ones
with the scripted ASR engine, the slow one with the real Korean Vosk model.
Tests that speak skip when espeak-ng is missing (fail under VOICE_REQUIRE_ALL=1).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import LiveServer, korean_model, missing
from twilio_helpers import ScriptedEngine

from voice import create_app
from voice.audio import mulaw_decode, pitch_hz, rms_dbfs
from voice.scenarios.script import Scenario, ScenarioTurn
from voice.services import services_of
from voice.tools.audio_call import stream_target
from voice.tools.simulate import simulate_command
from voice.tools.speech import (
    DEFAULT_LOUDNESS_DBFS,
    SAME_TRACK_GAP_S,
    SimulateAudioError,
    espeak_path,
    render_scenario,
)

RATE = 8000
API_TOKEN = "test-api-token"
TWILIO_TOKEN = "test-auth-token"
PUBLIC_URL = "https://coach.example.com"

SHORT = Scenario(
    title="Short call",
    caller="+15550123456",
    desk="front-desk",
    turns=(
        ScenarioTurn("receptionist", 0.3, "Good morning, Maple Street clinic.", -24.0),
        ScenarioTurn("caller", 3.0, "Hello, I need to book an appointment please.", -12.0),
        ScenarioTurn("receptionist", 6.5, "Of course, what day works for you?", None),
    ),
)


@pytest.fixture(scope="module")
def espeak() -> str:
    if shutil.which("espeak-ng") is None:
        missing("espeak-ng", "apt-get install espeak-ng")
    return espeak_path()


@pytest.fixture(scope="module")
def rendered(espeak: str):  # noqa: ANN201
    return render_scenario(SHORT)


def write_scenario(folder: Path, scenario: Scenario = SHORT) -> Path:
    lines = [f"title: {scenario.title}", f"caller: '{scenario.caller}'",
             f"desk: {scenario.desk}", "turns:"]
    for turn in scenario.turns:
        loud = f", loudness: {turn.loudness}" if turn.loudness is not None else ""
        lines.append(f"  - {{speaker: {turn.speaker}, at: {turn.at}, text: \"{turn.text}\""
                     f"{loud}}}")
    path = folder / "short.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cli(*args: str, env: dict | None = None):  # noqa: ANN201
    base = {"VOICE_API_TOKEN": API_TOKEN, "TWILIO_AUTH_TOKEN": "", "VOICE_PUBLIC_URL": ""}
    return CliRunner().invoke(simulate_command, list(args), env={**base, **(env or {})})


# --- rendering ----------------------------------------------------------------------------


def test_each_turn_lands_on_its_track_at_its_time(rendered) -> None:  # noqa: ANN001
    assert [p.track for p in rendered.placements] == ["outbound", "inbound", "outbound"]
    speaking = {"inbound": np.zeros(len(rendered.inbound), bool),
                "outbound": np.zeros(len(rendered.outbound), bool)}
    for turn, placed in zip(SHORT.turns, rendered.placements, strict=True):
        assert placed.start_s == pytest.approx(turn.at, abs=1 / RATE)
        start, end = round(placed.start_s * RATE), round(placed.end_s * RATE)
        assert end - start > RATE  # a real sentence, not a blip
        assert rendered.track(placed.track)[start] != 0  # speech starts right at ``at``
        speaking[placed.track][start:end] = True
    for track, mask in speaking.items():
        assert not rendered.track(track)[~mask].any()  # silence wherever no turn is
    assert len(rendered.inbound) == len(rendered.outbound)
    assert rendered.duration_s > rendered.placements[-1].end_s


def test_each_turn_has_its_loudness(rendered) -> None:  # noqa: ANN001
    for turn, placed in zip(SHORT.turns, rendered.placements, strict=True):
        span = rendered.track(placed.track)[round(placed.start_s * RATE):
                                           round(placed.end_s * RATE)]
        expected = turn.loudness if turn.loudness is not None else DEFAULT_LOUDNESS_DBFS
        assert rms_dbfs(span) == pytest.approx(expected, abs=0.5)
        assert placed.loudness_dbfs == expected


def test_loudness_survives_mulaw(rendered) -> None:  # noqa: ANN001
    inbound, _ = rendered.mulaw()
    caller = rendered.placements[1]
    span = mulaw_decode(inbound)[round(caller.start_s * RATE):round(caller.end_s * RATE)]
    assert rms_dbfs(span) == pytest.approx(-12.0, abs=0.5)


def test_caller_and_receptionist_sound_different(rendered) -> None:  # noqa: ANN001
    pitch = {p.speaker: pitch_hz(rendered.track(p.track)[round(p.start_s * RATE):
                                                         round(p.end_s * RATE)], RATE)
             for p in rendered.placements[:2]}
    assert pitch["receptionist"] > 1.5 * pitch["caller"]


def test_a_turn_that_would_overlap_its_own_track_waits(espeak: str) -> None:
    scenario = Scenario("x", "+15550123456", None, (
        ScenarioTurn("caller", 0.0, "This is a rather long sentence that takes a while."),
        ScenarioTurn("caller", 0.5, "And another one."),
    ))
    first, second = render_scenario(scenario).placements
    assert second.start_s == pytest.approx(first.end_s + SAME_TRACK_GAP_S, abs=1 / RATE)


def test_missing_espeak_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SimulateAudioError, match="apt-get install espeak-ng"):
        espeak_path()


# --- where the stream goes and what is signed ------------------------------------------


@pytest.mark.parametrize(
    ("url", "public", "connect", "signed"),
    [
        ("http://127.0.0.1:5000", None, "ws://127.0.0.1:5000/twilio/stream",
         "wss://127.0.0.1:5000/twilio/stream"),
        ("https://coach.example.com/", None, "wss://coach.example.com/twilio/stream",
         "wss://coach.example.com/twilio/stream"),
        ("http://127.0.0.1:5000", "https://abc.ngrok.app", "ws://127.0.0.1:5000/twilio/stream",
         "wss://abc.ngrok.app/twilio/stream"),
        ("http://localhost:5000", "https://example.org/coach/", None,
         "wss://example.org/coach/twilio/stream"),
        ("http://localhost:5000", "wss://example.org/twilio/stream", None,
         "wss://example.org/twilio/stream"),
    ],
)
def test_stream_target(url: str, public: str | None, connect: str | None, signed: str) -> None:
    target = stream_target(url, public)
    assert target.signed_url == signed
    if connect:
        assert target.connect_url == connect


def test_stream_target_rejects_odd_urls() -> None:
    with pytest.raises(SimulateAudioError, match="--url"):
        stream_target("ftp://x")
    with pytest.raises(SimulateAudioError, match="--public-url"):
        stream_target("http://x", "coach.example.com")


# --- the CLI against a live server ------------------------------------------------------


@pytest.fixture
def scripted_app(config):  # noqa: ANN001, ANN201
    app = create_app(config, speech=ScriptedEngine())
    yield app
    services_of(app).calls.end_all("interrupted")


def finals(call: dict, speaker: str) -> list[str]:
    return [u["text"] for u in call["utterances"] if u["final"] and u["speaker"] == speaker]


def test_cli_streams_the_spoken_call_and_prints_the_sid_last(espeak, scripted_app,  # noqa: ANN001
                                                             tmp_path) -> None:  # noqa: ANN001
    with LiveServer(scripted_app) as server:
        result = run_cli(str(write_scenario(tmp_path)), "--audio", "--url", server.url,
                         "--speed", "50", "--twilio-token", TWILIO_TOKEN,
                         "--public-url", PUBLIC_URL)
    assert result.exit_code == 0, result.output
    sid = result.output.strip().splitlines()[-1]
    assert sid.startswith("CA") and len(sid) == 34
    call = services_of(scripted_app).store.get_call(sid)
    assert call["status"] == "completed" and call["from"] == SHORT.caller
    assert call["desk"] == "front-desk" and call["stats"]["chunks_dropped"] == 0
    assert finals(call, "caller") and finals(call, "receptionist")


def test_cli_signs_the_service_url_when_there_is_no_public_url(espeak, config,  # noqa: ANN001
                                                               tmp_path) -> None:  # noqa: ANN001
    app = create_app(config.replace(public_url=None), speech=ScriptedEngine())
    try:
        with LiveServer(app) as server:
            result = run_cli(str(write_scenario(tmp_path)), "--audio", "--url", server.url,
                             "--speed", "200", env={"TWILIO_AUTH_TOKEN": TWILIO_TOKEN})
    finally:
        services_of(app).calls.end_all("interrupted")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("CA")


def test_cli_explains_a_refused_signature(espeak, scripted_app, tmp_path) -> None:  # noqa: ANN001
    with LiveServer(scripted_app) as server:
        result = run_cli(str(write_scenario(tmp_path)), "--audio", "--url", server.url,
                         "--twilio-token", "wrong", "--public-url", PUBLIC_URL)
    assert result.exit_code == 1
    assert "403" in result.output and "X-Twilio-Signature" in result.output
    assert "--public-url" in result.output and "--twilio-token" in result.output


def test_cli_explains_an_unreachable_service(espeak, tmp_path) -> None:  # noqa: ANN001
    result = run_cli(str(write_scenario(tmp_path)), "--audio", "--url", "http://127.0.0.1:9",
                     "--twilio-token", TWILIO_TOKEN)
    assert result.exit_code == 1 and "cannot reach the service" in result.output


def test_cli_needs_the_twilio_token(tmp_path) -> None:  # noqa: ANN001
    result = run_cli(str(write_scenario(tmp_path)), "--audio", "--url", "http://127.0.0.1:9")
    assert result.exit_code == 1 and "--twilio-token" in result.output
    assert "TWILIO_AUTH_TOKEN" in result.output


@pytest.mark.slow
def test_cli_audio_through_the_real_speech_model(espeak, config, tmp_path) -> None:  # noqa: ANN001
    model = korean_model()
    app = create_app(config.replace(load_speech_model=True, vosk_model_path=str(model)))
    svc = services_of(app)
    assert svc.speech is not None, svc.speech_status
    try:
        with LiveServer(app) as server:
            result = run_cli(str(write_scenario(tmp_path)), "--audio", "--url", server.url,
                             "--speed", "20", "--twilio-token", TWILIO_TOKEN,
                             "--public-url", PUBLIC_URL)
    finally:
        svc.calls.end_all("interrupted")
    assert result.exit_code == 0, result.output
    sid = result.output.strip().splitlines()[-1]
    call = svc.store.get_call(sid)
    assert call["status"] == "completed" and call["transcribed"]
    assert call["stats"]["chunks_dropped"] == 0
    assert any(t.strip() for t in finals(call, "caller")), call["utterances"]
    assert any(t.strip() for t in finals(call, "receptionist")), call["utterances"]
