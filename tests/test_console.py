"""The receptionist console: page, SSE stream (format, ids, replay, snapshot), prompt actions."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from conftest import LiveServer, csrf_token_of, login
from sim_helpers import FakeScorer, wait_for

from voice import create_app
from voice.bus import MemoryBus
from voice.config import Config
from voice.console.sse import ClosingOnce, event_stream, sse_message
from voice.events import CallStarted, Utterance
from voice.services import services_of


def parse_sse(chunks: list[str]) -> list[dict]:
    """Split SSE text into messages: {"id", "event", "data"} or {"comment"}."""
    messages = []
    for block in "".join(chunks).split("\n\n"):
        if not block:
            continue
        message: dict = {}
        for line in block.split("\n"):
            field, _, value = line.partition(": ") if ": " in line else (line, "", "")
            if line.startswith(":"):
                message["comment"] = line[1:].strip()
            elif field == "data":
                message["data"] = json.loads(value)
            else:
                message[field.rstrip(":")] = value
        messages.append(message)
    return messages


class Stream:
    """Reads a streaming test response, keeping every SSE message seen so far."""

    def __init__(self, response) -> None:  # noqa: ANN001
        self.response = response
        self.iterator = iter(response.response)
        self.chunks: list[str] = []

    def messages(self) -> list[dict]:
        return parse_sse(self.chunks)

    def events(self, count: int, timeout: float = 10.0) -> list[dict]:
        """Read until ``count`` events (not comments) arrived; return them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = [m for m in self.messages() if "event" in m]
            if len(events) >= count:
                return events
            self.chunks.append(next(self.iterator).decode())
        raise AssertionError(f"only got {self.messages()}")

    def close(self) -> None:
        self.response.close()


def read_stream(response, count: int) -> list[dict]:  # noqa: ANN001
    """The first ``count`` events of a fresh stream."""
    return Stream(response).events(count)


@pytest.fixture
def app(config: Config):  # noqa: ANN201
    application = create_app(config, scorer=FakeScorer())
    application.config["SSE_HEARTBEAT_S"] = 0.2
    yield application
    services_of(application).calls.end_all("interrupted")


@pytest.fixture
def svc(app):  # noqa: ANN001, ANN201
    return services_of(app)


@pytest.fixture
def desk_client(app, svc):  # noqa: ANN001, ANN201
    client = app.test_client()
    login(client, svc.store)
    return client


def test_sse_message_format() -> None:
    text = sse_message("prompt", {"text": "two\nlines"}, id="42")
    assert text == 'id: 42\nevent: prompt\ndata: {"text":"two\\nlines"}\n\n'
    assert sse_message("snapshot", {}).startswith("event: snapshot\n")


def test_the_console_page_sends_strangers_to_the_login(client) -> None:  # noqa: ANN001
    response = client.get("/console")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("method,path", [("GET", "/events"), ("GET", "/events?desk=x"),
                                         ("GET", "/console/session"),
                                         ("POST", "/console/calls/CA1/prompts/p1")])
def test_stream_and_json_endpoints_answer_401_not_a_redirect(client, method: str,  # noqa: ANN001
                                                             path: str) -> None:
    response = client.open(path, method=method, json={"action": "done"})
    assert response.status_code == 401
    assert "Location" not in response.headers
    assert response.get_json()["error"] == "unauthorized"


def test_session_endpoint_says_the_login_is_good(desk_client) -> None:  # noqa: ANN001
    response = desk_client.get("/console/session")
    assert response.status_code == 200
    assert response.get_json()["username"] == "desk"


def test_console_page_serves_its_own_script_and_style(desk_client) -> None:  # noqa: ANN001
    page = desk_client.get("/console")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="csrf-token"' in html and "/console/static/console.js" in html
    assert "http://" not in html and "https://" not in html  # no CDN
    assert desk_client.get("/console/static/console.js").status_code == 200
    assert desk_client.get("/console/static/console.css").status_code == 200


def test_events_carry_bus_ids_and_types(desk_client, svc) -> None:  # noqa: ANN001
    response = desk_client.get("/events")
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["X-Accel-Buffering"] == "no"
    stream = Stream(response)
    first = stream.events(1)
    assert first[0]["event"] == "snapshot" and first[0]["data"]["calls"] == []
    published = svc.bus.publish("front-desk", "prompt", {"call_sid": "CA1", "id": "p1"})
    svc.bus.publish("other-desk", "prompt", {"call_sid": "CA2", "id": "p2"})
    svc.bus.publish("front-desk", "call_ended", {"call_sid": "CA1"})
    events = stream.events(3)
    assert events[1] == {"id": published.id, "event": "prompt",
                         "data": {"call_sid": "CA1", "id": "p1"}}
    assert events[2]["event"] == "call_ended"
    assert stream.chunks[0] == "retry: 3000\n\n"
    stream.close()


def test_heartbeat_comments_while_idle(desk_client) -> None:  # noqa: ANN001
    stream = Stream(desk_client.get("/events"))
    stream.events(1)
    for _ in range(3):
        stream.chunks.append(next(stream.iterator).decode())
    assert any(m.get("comment") == "heartbeat" for m in stream.messages())
    stream.close()


@pytest.mark.parametrize("how", ["header", "query"])
def test_last_event_id_replays_what_was_missed(desk_client, svc, how: str) -> None:  # noqa: ANN001
    ids = [svc.bus.publish("front-desk", "transcript", {"n": n}).id for n in range(4)]
    if how == "header":
        response = desk_client.get("/events", headers={"Last-Event-ID": ids[1]})
    else:
        response = desk_client.get(f"/events?last_event_id={ids[1]}")
    events = read_stream(response, 2)
    assert [e["id"] for e in events] == ids[2:]  # no snapshot on a reconnect, just the replay
    assert [e["data"]["n"] for e in events] == [2, 3]
    response.close()


def test_snapshot_shows_a_call_already_running(desk_client, svc) -> None:  # noqa: ANN001
    live = svc.calls.open(CallStarted("CAmid", from_number="+15550001111", desk="front-desk",
                                         started_at="2026-01-01T10:00:00+00:00"), with_audio=False)
    live.add_utterance(Utterance("CAmid", "caller", "This is ridiculous, third time I call",
                                    0.0, 2.0, True))
    snapshot = read_stream(desk_client.get("/events"), 1)[0]
    assert snapshot["event"] == "snapshot" and "id" not in snapshot
    (call,) = snapshot["data"]["calls"]
    assert call["call_sid"] == "CAmid" and call["from"] == "+15550001111"
    assert call["transcript"][-1]["text"].startswith("This is ridiculous")
    assert call["frustration"]["level"] != "calm"  # the scorer heard an angry line
    assert call["frustration"]["score"] > 0.5


def test_desk_query_picks_another_desk_she_works(app, svc) -> None:  # noqa: ANN001
    client = app.test_client()
    login(client, svc.store, "two-desks", desks=("front-desk", "back-office"))
    stream = Stream(client.get("/events?desk=back-office"))
    stream.events(1)
    svc.bus.publish("front-desk", "prompt", {"n": 1})
    message = svc.bus.publish("back-office", "prompt", {"n": 2})
    assert stream.events(2)[1]["id"] == message.id
    stream.close()


def _acted_prompt(app, client):  # noqa: ANN001, ANN202
    """A live call on front-desk with one prompt card, and the client's CSRF token."""
    from voice.events import Prompt

    svc = services_of(app)
    sid = f"CAlive{len(svc.calls.live())}"
    call = svc.calls.open(CallStarted(sid, "+15550001", desk="front-desk"), with_audio=False)
    call.recorder.prompt(Prompt(sid, "calm_ask_name", "calm", "Take their name", "why", 1))
    assert call.recorder.flush(5)
    prompt = svc.store.get_call(sid)["prompts"][0]
    return sid, prompt, csrf_token_of(client, "/console")


def test_done_is_recorded_and_announced(app, desk_client, svc) -> None:  # noqa: ANN001
    sid, prompt, token = _acted_prompt(app, desk_client)
    watch = svc.bus.subscribe("front-desk")
    response = desk_client.post(f"/console/calls/{sid}/prompts/{prompt['id']}",
                                json={"action": "done"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 200
    assert response.get_json()["prompt"]["status"] == "done"
    stored = svc.store.get_call(sid)["prompts"][0]
    assert (stored["status"], stored["acted_by"]) == ("done", "desk")
    update = watch.get(timeout=1)
    assert update.type == "prompt_update" and update.data["status"] == "done"
    watch.close()


def test_prompt_action_checks_csrf_action_and_prompt(app, desk_client) -> None:  # noqa: ANN001
    sid, prompt, token = _acted_prompt(app, desk_client)
    url = f"/console/calls/{sid}/prompts/{prompt['id']}"
    assert desk_client.post(url, json={"action": "done"}).status_code == 400
    assert desk_client.post(url, json={"action": "maybe"},
                            headers={"X-CSRF-Token": token}).status_code == 400
    missing = desk_client.post(f"/console/calls/{sid}/prompts/nope", json={"action": "dismissed"},
                               headers={"X-CSRF-Token": token})
    assert missing.status_code == 404


@pytest.mark.parametrize("body", [["done"], "done", 3, None])
def test_a_json_body_that_is_not_an_object_is_a_400(app, desk_client, body) -> None:  # noqa: ANN001
    sid, prompt, token = _acted_prompt(app, desk_client)
    response = desk_client.post(f"/console/calls/{sid}/prompts/{prompt['id']}",
                                data=json.dumps(body), content_type="application/json",
                                headers={"X-CSRF-Token": token})
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_request"


def test_an_id_from_before_a_restart_gets_a_fresh_snapshot(config: Config) -> None:
    """After a restart the bus has new ids: the page must start over, ended calls gone."""
    before = create_app(config, scorer=FakeScorer())
    old = services_of(before)
    old.calls.open(CallStarted("CAgone", from_number="+15550002222", desk="front-desk"),
                   with_audio=False)
    old.calls.end("CAgone", "completed")
    last_seen = old.bus.publish("front-desk", "transcript", {"n": 1}).id
    services_of(before).calls.end_all("interrupted")

    after = create_app(config, scorer=FakeScorer())  # same records, a fresh bus
    svc = services_of(after)
    svc.calls.open(CallStarted("CAnew", from_number="+15550003333", desk="front-desk"),
                   with_audio=False)
    for n in range(3):  # the new bus hands out ids of its own
        svc.bus.publish("front-desk", "transcript", {"n": n})
    client = after.test_client()
    login(client, svc.store)
    try:
        for how in ("header", "query"):
            if how == "header":
                response = client.get("/events", headers={"Last-Event-ID": last_seen})
            else:
                response = client.get(f"/events?last_event_id={last_seen}")
            first = read_stream(response, 1)[0]
            assert first["event"] == "snapshot"
            assert [c["call_sid"] for c in first["data"]["calls"]] == ["CAnew"]
            response.close()
        # an id the bus still holds resumes without a snapshot
        known = svc.bus.publish("front-desk", "transcript", {"n": 9}).id
        svc.bus.publish("front-desk", "transcript", {"n": 10})
        response = client.get("/events", headers={"Last-Event-ID": known})
        assert read_stream(response, 1)[0]["data"] == {"n": 10}
        response.close()
    finally:
        svc.calls.end_all("interrupted")


class _CountingSubscription:
    resumed = False
    dropped = 0

    def __init__(self) -> None:
        self.closes = 0

    def get(self, timeout: float) -> None:
        return None

    def close(self) -> None:
        self.closes += 1


def test_the_subscription_is_closed_once() -> None:
    inner = _CountingSubscription()
    subscription = ClosingOnce(inner)
    stream = event_stream(subscription, lambda: {"calls": []}, heartbeat_s=0.01, poll_s=0.01,
                          send_snapshot=not subscription.resumed)
    assert next(stream) == "retry: 3000\n\n"
    assert next(stream).startswith("event: snapshot\n")
    stream.close()  # the generator's finally
    subscription.close()  # and the response's call_on_close
    assert inner.closes == 1


def test_the_stream_closes_its_subscription_once_on_the_wire(desk_client, svc,  # noqa: ANN001
                                                              monkeypatch) -> None:
    closes = []
    subscribe = svc.bus.subscribe

    def counting_subscribe(desk, after=None):  # noqa: ANN001, ANN202
        real = subscribe(desk, after=after)
        original = real.close
        real.close = lambda: (closes.append(1), original())
        return real

    monkeypatch.setattr(svc.bus, "subscribe", counting_subscribe)
    stream = Stream(desk_client.get("/events"))
    stream.events(1)
    stream.close()
    assert closes == [1]
    assert svc.bus.subscriber_count("front-desk") == 0


def test_a_stalled_reader_never_blocks_publishing(desk_client, svc, monkeypatch) -> None:  # noqa: ANN001
    subscriptions = []
    subscribe = svc.bus.subscribe
    monkeypatch.setattr(svc.bus, "subscribe", lambda desk, after=None: subscriptions.append(
        subscribe(desk, after=after)) or subscriptions[-1])
    response = desk_client.get("/events")
    read_stream(response, 1)  # connected, then never reads again
    publisher = threading.Thread(target=lambda: [
        svc.bus.publish("front-desk", "transcript", {"n": n}) for n in range(5000)], daemon=True)
    publisher.start()
    publisher.join(60)  # a publish that waited for the reader would never finish
    assert not publisher.is_alive(), "publishing blocked on a stalled reader"
    assert subscriptions[0].dropped > 0  # the reader's queue filled: its oldest were dropped
    response.close()  # the client goes: the subscription is released
    assert svc.bus.subscriber_count("front-desk") == 0


def test_a_vanished_browser_ends_its_stream(app, svc, desk_client) -> None:  # noqa: ANN001
    assert isinstance(svc.bus, MemoryBus)
    cookie = desk_client.get_cookie("session").value
    with LiveServer(app) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(f"GET /events HTTP/1.1\r\nHost: x\r\nCookie: session={cookie}\r\n\r\n"
                     .encode())
        assert b"200" in sock.recv(4096).split(b"\r\n")[0]
        wait_for(lambda: svc.bus.subscriber_count("front-desk") == 1)
        sock.close()  # the browser tab is gone without a goodbye
        for n in range(200):  # calls carry on while the server notices
            svc.bus.publish("front-desk", "transcript", {"n": n})
        wait_for(lambda: svc.bus.subscriber_count("front-desk") == 0, timeout=10)


@pytest.mark.redis
def test_redis_bus_stream_and_replay(config: Config, redis_url: str) -> None:
    application = create_app(config.replace(redis_url=redis_url), scorer=FakeScorer())
    svc = services_of(application)
    client = application.test_client()
    login(client, svc.store)
    first = svc.bus.publish("front-desk", "transcript", {"n": 1})
    second = svc.bus.publish("front-desk", "transcript", {"n": 2})
    replay = client.get("/events", headers={"Last-Event-ID": first.id})
    assert read_stream(replay, 1) == [{"id": second.id, "event": "transcript",
                                       "data": {"n": 2}}]
    replay.close()
    live = Stream(client.get("/events"))
    live.events(1)
    third = svc.bus.publish("front-desk", "prompt", {"n": 3})
    assert live.events(2)[1]["id"] == third.id
    live.close()
    svc.bus.close()


def test_done_on_a_live_call_reaches_its_coach(svc, desk_client) -> None:  # noqa: ANN001
    from voice.events import Prompt

    live = svc.calls.open(CallStarted("CAack", "+15550001"), with_audio=False)
    live.recorder.prompt(Prompt("CAack", "calm_ask_name", "calm", "Take their name", "why", 1))
    assert live.recorder.flush(5)
    token = csrf_token_of(desk_client, "/console")
    response = desk_client.post("/console/calls/CAack/prompts/calm_ask_name",
                                json={"action": "done"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 200, response.data
    assert "calm_name" in live.coach.covered_stages
