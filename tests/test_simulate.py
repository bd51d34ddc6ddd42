"""Simulated calls: the API endpoint, the scenario player, the demo loop and the CLI."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import LiveServer, csrf_token_of, login
from sim_helpers import play, scenario_path, wait_for

from voice.scenarios.player import ScenarioPlayer, start_demo_loop
from voice.scenarios.script import (
    load_scenario,
    scenario_from_json,
    scenario_to_json,
    shipped_scenarios,
)
from voice.services import services_of
from voice.tools.simulate import simulate_command

TOKEN = {"Authorization": "Bearer test-api-token"}


@pytest.fixture
def app(scored_app):  # noqa: ANN001, ANN201
    return scored_app


@pytest.fixture
def svc(app):  # noqa: ANN001, ANN201
    return services_of(app)


def billing_json() -> dict:
    return scenario_to_json(load_scenario(scenario_path("billing_dispute")))


# --- the endpoint -------------------------------------------------------------------


def test_api_needs_the_token_or_a_manager(app, client, svc) -> None:  # noqa: ANN001
    assert client.post("/api/simulate", json=billing_json()).status_code == 401
    wrong = client.post("/api/simulate", json=billing_json(),
                        headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    login(client, svc.store, "desk", "receptionist")
    assert client.post("/api/simulate", json=billing_json()).status_code == 400  # no CSRF token
    assert client.post("/api/simulate", json=billing_json(),
                       headers={"X-CSRF-Token": csrf_token_of(client)}).status_code == 403


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"turns": []}, "turns"),
        ({"caller": "not a number"}, "caller"),
        ({"turns": [{"speaker": "doctor", "at": 1, "text": "hi"}]}, "turn 1"),
        ({"turns": [{"speaker": "caller", "at": 5, "text": "a"},
                    {"speaker": "caller", "at": 2, "text": "b"}]}, "backwards"),
        ({"colour": "blue"}, "unknown field"),
        ({"speed": 0}, "speed"),
        ({"speed": "fast"}, "speed"),
    ],
)
def test_api_rejects_bad_scenarios(client, change: dict, expected: str) -> None:  # noqa: ANN001
    response = client.post("/api/simulate", json={**billing_json(), **change}, headers=TOKEN)
    assert response.status_code == 400
    body = response.get_json()
    assert body["errors"] and expected in " ".join(body["errors"])
    assert "/tmp" not in " ".join(body["errors"])


def test_api_rejects_a_body_that_is_not_json(client) -> None:  # noqa: ANN001
    response = client.post("/api/simulate", data="title: x", headers=TOKEN)
    assert response.status_code == 400


def test_api_plays_the_scenario_through_the_pipeline(client, svc) -> None:  # noqa: ANN001
    response = client.post("/api/simulate", json={**billing_json(), "speed": 400},
                           headers=TOKEN)
    assert response.status_code == 202
    sid = response.get_json()["call_sid"]
    assert sid.startswith("SIM") and len(sid) == 35
    assert svc.store.get_call(sid)["status"] in ("live", "completed")  # exists at once
    call = wait_for(lambda: (c := svc.store.get_call(sid)) and c["status"] != "live" and c,
                    timeout=90)  # the first call loads the topic encoder
    assert call["status"] == "completed" and call["simulated"]
    assert call["from"] == "+15550178834" and call["prompts"] and call["flagged"]


# --- the player ---------------------------------------------------------------------


@pytest.mark.parametrize("path", shipped_scenarios(), ids=lambda p: p.stem)
def test_every_shipped_scenario_plays(app, svc, path) -> None:  # noqa: ANN001
    sid = play(app, path.stem)
    call = svc.store.get_call(sid)
    scenario = load_scenario(path)
    assert call["status"] == "completed"
    assert [u["text"] for u in call["utterances"]] == [t.text for t in scenario.turns]
    assert call["follow_ups"]


def test_tense_and_calm_scenarios_differ(app, svc) -> None:  # noqa: ANN001
    tense = svc.store.get_call(play(app, "billing_dispute"))
    calm = svc.store.get_call(play(app, "calm_booking"))
    assert tense["flagged"] and tense["peak_level"] in ("upset", "escalating")
    assert not calm["flagged"] and calm["peak_level"] == "calm"
    assert len(tense["prompts"]) > len(calm["prompts"])


def test_partials_come_before_finals_on_the_bus(app, svc) -> None:  # noqa: ANN001
    watch = svc.bus.subscribe("front-desk")
    play(app, "billing_dispute")
    messages = []
    while (message := watch.get(timeout=0.2)) is not None:
        messages.append(message)
    watch.close()
    kinds = [m.type for m in messages]
    assert kinds[0] == "call_started" and kinds[-1] == "call_ended"
    lines = [m.data for m in messages if m.type == "transcript"]
    first_partial = next(i for i, line in enumerate(lines) if not line["final"])
    final = lines[first_partial + 1]
    assert final["final"] and final["text"].startswith(lines[first_partial]["text"])


def test_stopping_a_player_interrupts_the_call(svc) -> None:  # noqa: ANN001
    player = ScenarioPlayer(svc, load_scenario(scenario_path("billing_dispute")), speed=1)
    player.start()
    player.stop()
    assert player.join(5)
    assert svc.store.get_call(player.call_sid)["status"] == "interrupted"


def test_speed_is_bounded(svc) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="speed"):
        ScenarioPlayer(svc, load_scenario(scenario_path("calm_booking")), speed=0)


def test_json_round_trip_keeps_the_scenario() -> None:
    for path in shipped_scenarios():
        scenario = load_scenario(path)
        assert scenario_from_json(scenario_to_json(scenario)) == scenario


def test_demo_loop_repeats_until_stopped(svc) -> None:  # noqa: ANN001
    stop = start_demo_loop(svc, scenario_path("calm_booking"), speed=1000, pause_s=0.05)
    try:
        wait_for(lambda: len(svc.store.list_calls(status="completed")) >= 2, timeout=30)
    finally:
        stop.set()
    assert all(c["simulated"] for c in svc.store.list_calls())


# --- the CLI against a real loopback server ---------------------------------------


def run_cli(*args: str, env: dict | None = None):  # noqa: ANN201
    return CliRunner().invoke(simulate_command, list(args), env=env or {"VOICE_API_TOKEN": ""})


def test_cli_plays_and_prints_the_call_sid_last(app, svc) -> None:  # noqa: ANN001
    with LiveServer(app) as server:
        result = run_cli(str(scenario_path("billing_dispute")), "--url", server.url,
                         "--speed", "200", env={"VOICE_API_TOKEN": "test-api-token"})
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    sid = lines[-1]
    assert sid.startswith("SIM") and "PROMPT" in result.output
    assert svc.store.get_call(sid)["status"] == "completed"


def test_cli_explains_a_wrong_token(app) -> None:  # noqa: ANN001
    with LiveServer(app) as server:
        result = run_cli(str(scenario_path("calm_booking")), "--url", server.url, "--token", "bad")
    assert result.exit_code == 1 and "refused the token (401)" in result.output


def test_cli_explains_an_unreachable_service() -> None:
    result = run_cli(str(scenario_path("calm_booking")), "--url", "http://127.0.0.1:9",
                     "--token", "t")
    assert result.exit_code == 1 and "cannot reach the service" in result.output


def test_cli_validates_the_file_locally(tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: x\ncaller: '+15550001'\nturns:\n  - {speaker: nurse, at: 1, text: hi}\n")
    result = run_cli(str(bad), "--token", "t", "--url", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "invalid scenario" in result.output and "turn 1" in result.output


def test_cli_needs_a_token_and_audio_a_twilio_token() -> None:
    path = str(scenario_path("calm_booking"))
    assert "no API token" in run_cli(path).output
    audio = run_cli(path, "--audio", "--token", "t", "--twilio-token", "")
    assert audio.exit_code == 1 and "no Twilio auth token" in audio.output


def test_cli_gives_up_after_the_timeout(app) -> None:  # noqa: ANN001
    with LiveServer(app) as server:
        result = run_cli(str(scenario_path("billing_dispute")), "--url", server.url,
                         "--token", "test-api-token", "--speed", "1", "--timeout", "1")
    assert result.exit_code == 1 and "still live" in result.output
