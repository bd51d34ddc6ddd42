from conftest import PASSWORD, csrf_token_of, login, logout

from voice.events import CallStarted, Utterance
from voice.services import services_of

AUTH = {"Authorization": "Bearer test-api-token"}


def seed_call(app, sid="CA100"):
    store = services_of(app).store
    store.open_call(CallStarted(sid, "+15550001", "+15550100", "front-desk"))
    store.add_utterance(Utterance(sid, "caller", "I need my results", 0.5, 2.0, True))
    store.add_utterance(Utterance(sid, "receptionist", "Let me check", 2.2, 3.0, True))
    store.close_call(sid, "completed", follow_up="Call back with results")
    return store


def test_calls_api_refuses_requests_without_the_bearer_token(client):
    response = client.get("/api/calls")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/calls", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_calls_api_is_off_when_no_token_is_configured(app, config):
    from voice import create_app

    no_token = create_app(config.replace(api_token=""))
    response = no_token.test_client().get("/api/calls", headers={"Authorization": "Bearer "})
    assert response.status_code == 401
    assert "VOICE_API_TOKEN" in response.get_json()["message"]


def test_call_json_has_the_record_and_its_utterances(app, client):
    seed_call(app)
    listing = client.get("/api/calls", headers=AUTH).get_json()
    assert [c["call_sid"] for c in listing["calls"]] == ["CA100"]
    call = client.get("/api/calls/CA100", headers=AUTH).get_json()
    for key in ("call_sid", "from", "started_at", "ended_at", "status", "utterances"):
        assert key in call
    assert call["status"] == "completed"
    assert [(u["speaker"], u["text"], u["final"]) for u in call["utterances"]] == [
        ("caller", "I need my results", True),
        ("receptionist", "Let me check", True),
    ]
    assert call["follow_ups"][0]["what"] == "Call back with results"


def test_unknown_call_is_a_json_404(client):
    response = client.get("/api/calls/CAnope", headers=AUTH)
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


def test_bad_paging_is_a_clear_400(client):
    response = client.get("/api/calls?limit=ten", headers=AUTH)
    assert response.status_code == 400
    assert "limit" in response.get_json()["message"]


def test_a_receptionist_login_reads_only_her_desks_calls_and_a_manager_all(app, client):
    seed_call(app)
    store = services_of(app).store
    login(client, store, "north-desk", "receptionist", desks=("north",))
    assert client.get("/api/calls").get_json()["calls"] == []
    assert client.get("/api/calls/CA100").status_code == 403  # another desk's
    assert client.post("/api/simulate", json={}).status_code in (400, 403)
    logout(client)
    login(client, store, "boss", "manager")
    assert [c["call_sid"] for c in client.get("/api/calls").get_json()["calls"]] == ["CA100"]


def test_healthz_says_what_is_loaded_and_what_is_missing(client):
    body = client.get("/healthz", headers=AUTH).get_json()
    assert body["database"]["ok"] and body["bus"]["ok"]
    assert body["speech_model"]["ok"] is False
    assert "disabled" in body["speech_model"]["detail"]
    assert body["status"] == "ok"


def test_anonymous_healthz_gets_the_status_only(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert b"model" not in response.data and b"counters" not in response.data


def test_healthz_detail_is_for_managers_not_receptionists(app, client):
    store = services_of(app).store
    login(client, store, "desk", "receptionist")
    assert set(client.get("/healthz").get_json()) == {"status"}
    manager = app.test_client()
    login(manager, store, "boss", "manager")
    assert "counters" in manager.get("/healthz").get_json()


def test_login_page_rejects_a_wrong_password(app, client):
    services_of(app).store.users.add("desk", PASSWORD, "receptionist")
    response = client.post("/login", data={"username": "desk", "password": "wrong",
                                           "csrf_token": csrf_token_of(client)})
    assert response.status_code == 401
    assert b"Wrong username or password" in response.data


def test_login_does_not_redirect_off_site(app, client):
    services_of(app).store.users.add("desk", PASSWORD, "receptionist")
    response = client.post(
        "/login?next=https://evil.example/",
        data={"username": "desk", "password": PASSWORD, "csrf_token": csrf_token_of(client)},
    )
    assert response.headers["Location"].endswith("/console")


def test_error_pages_escape_what_the_request_put_in_them(app, client):
    login(client, services_of(app).store, "boss", "manager")
    response = client.get("/review/calls/<img src=x onerror=alert(1)>")
    assert response.status_code == 404
    assert b"<img" not in response.data and b"&lt;img" in response.data
