"""Desks kept apart and per-user API tokens: each test tries to reach another desk's call.

A receptionist at ``north`` opens ``south``'s console and stream, ticks a prompt on
``south``'s live call and on her own desk's ended call, and reads ``south``'s
calls through the API with her own token; all are refused.  Managers see every
desk.  Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import csrf_token_of, login

from voice import create_app
from voice.cli import main
from voice.config import Config
from voice.events import CallStarted, Prompt
from voice.services import services_of


@pytest.fixture
def app(auth_app):  # noqa: ANN001, ANN201
    """conftest's ``auth_app``: each database, quick SSE re-checks."""
    return auth_app


@pytest.fixture
def svc(app):  # noqa: ANN001, ANN201
    return services_of(app)


def open_call(svc, sid: str, desk: str) -> str:  # noqa: ANN001
    """A live call on ``desk`` with one prompt card ``p1``."""
    call = svc.calls.open(CallStarted(sid, "+15550001", desk=desk), with_audio=False)
    call.recorder.prompt(Prompt(sid, "p1", "calm", "Take their name", "why", 1.0))
    assert call.recorder.flush(5)
    return sid


@pytest.fixture
def north(app, svc):  # noqa: ANN001, ANN201
    client = app.test_client()
    login(client, svc.store, "nora", "receptionist", desks=("north",))
    return client


def act(client, sid: str, action: str = "done"):  # noqa: ANN001, ANN201
    return client.post(f"/console/calls/{sid}/prompts/p1", json={"action": action},
                       headers={"X-CSRF-Token": csrf_token_of(client)})


def prompt_status(svc, sid: str) -> str:  # noqa: ANN001
    return svc.store.get_call(sid)["prompts"][0]["status"]


def test_a_receptionist_cannot_open_another_desks_console_or_stream(north) -> None:  # noqa: ANN001
    assert north.get("/console?desk=south").status_code == 403
    stream = north.get("/events?desk=south")
    assert stream.status_code == 403 and stream.get_json()["error"] == "forbidden"
    own = north.get("/console")  # no desk asked: her own, not the configured front-desk
    assert own.status_code == 200 and "<h1>north</h1>" in own.get_data(as_text=True)
    assert north.get("/console?desk=front-desk").status_code == 403


def test_a_manager_sees_every_desk(app, svc) -> None:  # noqa: ANN001
    client = app.test_client()
    login(client, svc.store, "boss", "manager")
    assert client.get("/console?desk=south").status_code == 200
    response = client.get("/events?desk=south", buffered=False)
    assert response.status_code == 200
    response.close()
    assert act(client, open_call(svc, "CAsouth", "south")).status_code == 200


def test_a_receptionist_cannot_act_on_another_desks_call(north, svc) -> None:  # noqa: ANN001
    sid = open_call(svc, "CAsouth", "south")
    response = act(north, sid)
    assert response.status_code == 403 and "another desk" in response.get_json()["message"]
    assert prompt_status(svc, sid) == "shown"


def test_nobody_acts_on_an_ended_call(north, svc) -> None:  # noqa: ANN001
    sid = open_call(svc, "CAnorth", "north")
    svc.calls.end(sid, "completed")
    response = act(north, sid, "dismissed")
    assert response.status_code == 403 and "ended" in response.get_json()["message"]
    assert prompt_status(svc, sid) == "shown"
    assert act(north, "CAnope").status_code == 404


def test_her_own_live_call_takes_her_action(north, svc) -> None:  # noqa: ANN001
    sid = open_call(svc, "CAnorth", "north")
    assert act(north, sid).status_code == 200
    assert prompt_status(svc, sid) == "done"


def test_a_receptionist_without_a_desk_is_told_so(app, svc) -> None:  # noqa: ANN001
    client = app.test_client()
    login(client, svc.store, "newbie", "receptionist", desks=())
    page = client.get("/console")
    assert page.status_code == 403 and "voice users desks newbie" in page.get_data(as_text=True)


def test_moving_her_off_a_desk_ends_her_stream_of_it(north, svc) -> None:  # noqa: ANN001
    response = north.get("/events?desk=north", buffered=False)
    chunks = iter(response.response)
    next(chunks)
    svc.store.users.set_desks("nora", ["east"])
    deadline = time.monotonic() + 5
    with pytest.raises(StopIteration):
        while time.monotonic() < deadline:
            next(chunks)
    response.close()
    assert north.get("/events?desk=north").status_code == 403


def test_the_snapshot_and_stream_carry_only_her_desk(north, svc) -> None:  # noqa: ANN001
    open_call(svc, "CAsouth", "south")
    open_call(svc, "CAnorth", "north")
    response = north.get("/events", buffered=False)
    chunks = iter(response.response)
    text = ""
    while "snapshot" not in text:
        text += next(chunks).decode()
    svc.bus.publish("south", "transcript", {"call_sid": "CAsouth", "text": "secret"})
    svc.bus.publish("north", "transcript", {"call_sid": "CAnorth", "text": "mine"})
    while "mine" not in text:
        text += next(chunks).decode()
    response.close()
    assert "CAnorth" in text and "CAsouth" not in text and "secret" not in text


# --- per-user API tokens ------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_receptionists_token_opens_only_her_desks_calls(app, svc) -> None:  # noqa: ANN001
    open_call(svc, "CAsouth", "south")
    open_call(svc, "CAnorth", "north")
    svc.store.users.add("nora", "north-desk-passphrase", "receptionist", ["north"])
    token = svc.store.users.issue_token("nora")
    client = app.test_client()
    listing = client.get("/api/calls", headers=bearer(token)).get_json()
    assert [c["call_sid"] for c in listing["calls"]] == ["CAnorth"]
    assert client.get("/api/calls/CAnorth", headers=bearer(token)).status_code == 200
    other = client.get("/api/calls/CAsouth", headers=bearer(token))
    assert other.status_code == 403 and other.get_json()["error"] == "forbidden"
    assert client.get("/api/calls/CAnope", headers=bearer(token)).status_code == 404
    assert client.post("/api/simulate", json={}, headers=bearer(token)).status_code == 403
    # the shared VOICE_API_TOKEN still works alongside
    everyone = client.get("/api/calls", headers=bearer("test-api-token")).get_json()
    assert {c["call_sid"] for c in everyone["calls"]} == {"CAnorth", "CAsouth"}


def test_a_token_follows_revocation_removal_and_demotion(app, svc) -> None:  # noqa: ANN001
    open_call(svc, "CAsouth", "south")
    users = svc.store.users
    users.add("boss", "manager-passphrase", "manager")
    client = app.test_client()
    token = users.issue_token("boss")
    assert client.get("/api/calls/CAsouth", headers=bearer(token)).status_code == 200
    users.add("boss", "manager-passphrase", "receptionist", ["north"])  # demoted
    assert client.get("/api/calls/CAsouth", headers=bearer(token)).status_code == 403
    assert users.revoke_tokens("boss") == 1
    assert client.get("/api/calls", headers=bearer(token)).status_code == 401
    second = users.issue_token("boss")
    users.remove("boss")
    assert client.get("/api/calls", headers=bearer(second)).status_code == 401


def test_a_token_is_not_a_login_and_a_made_up_one_is_refused(app, svc) -> None:  # noqa: ANN001
    client = app.test_client()
    assert client.get("/api/calls", headers=bearer("vct_made-up")).status_code == 401
    assert client.get("/console", headers=bearer("test-api-token")).status_code == 302


def test_voice_users_token_prints_a_working_token_on_its_last_line(tmp_path: Path,
                                                                   monkeypatch) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'voice.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("VOICE_USER_PASSWORD", "north-desk-passphrase")
    runner = CliRunner()
    added = runner.invoke(main, ["users", "add", "nora", "--desk", "north"])
    assert added.exit_code == 0, added.output
    issued = runner.invoke(main, ["users", "token", "nora"])
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip().splitlines()[-1]
    app = create_app(Config.for_testing(database_url=url))
    client = app.test_client()
    assert client.get("/api/calls", headers=bearer(token)).status_code == 200
    assert "tokens=1" in runner.invoke(main, ["users", "list"]).output
    revoked = runner.invoke(main, ["users", "token", "nora", "--revoke"])
    assert revoked.exit_code == 0 and "revoked 1" in revoked.output
    assert client.get("/api/calls", headers=bearer(token)).status_code == 401
    assert runner.invoke(main, ["users", "token", "nobody"]).exit_code != 0
