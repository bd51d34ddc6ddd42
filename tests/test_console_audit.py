"""Live console views are audited: each call a console stream shows (in its snapshot or its
events) is one viewing, one ``view_live`` row per login and call, not one per event; a
reconnect storm within ``VOICE_LIVE_VIEW_WINDOW_S`` adds none (on this instance or another),
while another login or the same login after the window is a viewing of its own; on SQLite
and PostgreSQL.  Without an audit row the page is not shown the call."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from conftest import PASSWORD, csrf_token_of, login
from sim_helpers import FakeScorer
from test_console import Stream

from voice import create_app
from voice.config import Config
from voice.console import live_views
from voice.events import CallStarted, Utterance
from voice.records.audit import AuditLog
from voice.services import services_of


@pytest.fixture
def app(database_url: str):  # noqa: ANN201
    application = create_app(Config.for_testing(database_url=database_url), scorer=FakeScorer())
    application.config["SSE_HEARTBEAT_S"] = 0.2
    yield application
    services_of(application).calls.end_all("interrupted")


@pytest.fixture
def desk_client(app):  # noqa: ANN001, ANN201
    client = app.test_client()
    login(client, services_of(app).store)
    return client


def _live(app, sid: str) -> None:  # noqa: ANN001
    call = services_of(app).calls.open(
        CallStarted(sid, "+15550001111", desk="front-desk",
                    started_at="2026-01-01T10:00:00+00:00"), with_audio=False)
    call.add_utterance(Utterance(sid, "caller", "my bill is wrong again", 0.0, 2.0, True))


def _live_views(app, sid: str) -> list[dict]:  # noqa: ANN001
    rows = AuditLog(services_of(app).store).entries(call_sid=sid)
    return [r for r in rows if r["action"] == "view_live"]


def test_a_stream_is_audited_once_per_call_not_per_event(app, desk_client) -> None:  # noqa: ANN001
    _live(app, "CA-mid")
    stream = Stream(desk_client.get("/events"))
    (snapshot,) = stream.events(1)
    assert [c["call_sid"] for c in snapshot["data"]["calls"]] == ["CA-mid"]
    bus = services_of(app).bus
    for n in range(5):
        bus.publish("front-desk", "utterance", {"call_sid": "CA-mid", "text": f"more {n}"})
        bus.publish("front-desk", "utterance", {"call_sid": "CA-new", "text": f"hi {n}"})
    stream.events(11)
    stream.close()
    (mid,) = _live_views(app, "CA-mid")
    (new,) = _live_views(app, "CA-new")
    assert mid["user"] == "desk" and mid["detail"] == {"desk": "front-desk"}
    assert new["path"].startswith("/events")


def _reconnect(client, last_id: str | None = None) -> set[str]:  # noqa: ANN001
    """One console reconnect: a fresh stream (snapshot) or a resumed one, read, then closed;
    the calls its first event showed."""
    stream = Stream(client.get(f"/events?last_event_id={last_id}" if last_id else "/events"))
    (first,) = stream.events(1)
    stream.close()
    if first["event"] == "snapshot":
        return {c["call_sid"] for c in first["data"]["calls"]}
    return {first["data"]["call_sid"]}


def test_a_reconnect_storm_within_the_window_adds_no_row(app, desk_client) -> None:  # noqa: ANN001
    _live(app, "CA-mid")
    assert _reconnect(desk_client) == {"CA-mid"}
    bus = services_of(app).bus
    for n in range(30):
        if n % 2:  # a reload: a snapshot that shows the call again
            assert _reconnect(desk_client) == {"CA-mid"}
        else:  # an EventSource retry: resumed from an event, replaying the call's next one
            seen = bus.publish("front-desk", "utterance", {"call_sid": "CA-mid", "text": "x"})
            bus.publish("front-desk", "utterance", {"call_sid": "CA-mid", "text": "y"})
            assert _reconnect(desk_client, seen.id) == {"CA-mid"}
    assert len(_live_views(app, "CA-mid")) == 1


def test_another_login_is_a_viewing_of_its_own(app, desk_client) -> None:  # noqa: ANN001
    _live(app, "CA-mid")
    _reconnect(desk_client)
    other = app.test_client()
    login(other, services_of(app).store, username="desk2")
    assert _reconnect(other) == {"CA-mid"}
    _reconnect(other)
    _reconnect(desk_client)
    assert sorted(r["user"] for r in _live_views(app, "CA-mid")) == ["desk", "desk2"]


def test_the_same_login_after_the_window_is_a_new_viewing(app, desk_client,  # noqa: ANN001
                                                          monkeypatch) -> None:  # noqa: ANN001
    _live(app, "CA-mid")
    _reconnect(desk_client)
    window = services_of(app).config.live_view_window_s
    assert window > 0
    later = live_views.utcnow() + timedelta(seconds=window + 1)
    monkeypatch.setattr(live_views, "utcnow", lambda: later)
    assert _reconnect(desk_client) == {"CA-mid"}
    _reconnect(desk_client)
    assert len(_live_views(app, "CA-mid")) == 2


def test_a_reconnect_to_another_instance_within_the_window_adds_no_row(
        app, desk_client, database_url: str) -> None:  # noqa: ANN001
    # the second instance starts before the call, so it does not sweep it as a crash's
    second = create_app(Config.for_testing(database_url=database_url), scorer=FakeScorer())
    _live(app, "CA-mid")
    assert _reconnect(desk_client) == {"CA-mid"}
    client = second.test_client()
    response = client.post("/login", data={"username": "desk", "password": PASSWORD,
                                           "csrf_token": csrf_token_of(client)})
    assert response.status_code == 302
    assert _reconnect(client) == {"CA-mid"}  # its snapshot, from the shared records
    assert len(_live_views(app, "CA-mid")) == 1
    other = second.test_client()
    login(other, services_of(second).store, username="desk2")
    assert _reconnect(other) == {"CA-mid"}
    assert sorted(r["user"] for r in _live_views(app, "CA-mid")) == ["desk", "desk2"]


def test_with_a_window_of_zero_each_stream_is_a_viewing(database_url: str) -> None:
    app = create_app(Config.for_testing(database_url=database_url, live_view_window_s=0.0),
                     scorer=FakeScorer())
    try:
        client = app.test_client()
        login(client, services_of(app).store)
        _live(app, "CA-mid")
        for _ in range(3):
            assert _reconnect(client) == {"CA-mid"}
        assert len(_live_views(app, "CA-mid")) == 3
    finally:
        services_of(app).calls.end_all("interrupted")


def test_without_an_audit_row_the_page_is_not_shown_the_call(app, desk_client,  # noqa: ANN001
                                                            monkeypatch) -> None:  # noqa: ANN001
    _live(app, "CA-mid")

    def refuse(self, **row) -> None:  # noqa: ANN001, ANN003
        raise OSError("audit table unavailable")

    monkeypatch.setattr(AuditLog, "record", refuse)
    body = b"".join(desk_client.get("/events?page=load1").response).decode()
    assert "CA-mid" not in body and "snapshot" not in body


def test_simultaneous_reconnects_of_one_login_write_one_row() -> None:
    views = live_views.LiveViews(window_s=600)
    rows: list[tuple[str, datetime]] = []  # a stand-in audit log: (login, at)
    start = threading.Barrier(20)
    looking, looked = [0], threading.Condition()

    def show(login: str) -> None:
        def last_recorded(since: datetime) -> datetime | None:
            # a slow audit log: a second reconnect deciding meanwhile gets in (if it can)
            found = max((at for who, at in rows if who == login and at >= since), default=None)
            with looked:
                looking[0] += 1
                looked.notify_all()
                looked.wait_for(lambda: looking[0] >= 2, timeout=0.5)
            return found

        views.view(login, "CA-mid", last_recorded,
                   lambda: rows.append((login, live_views.utcnow())))

    def reconnect() -> None:
        start.wait(10)
        show("desk")

    threads = [threading.Thread(target=reconnect) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [who for who, _ in rows] == ["desk"]
    show("desk2")
    assert [who for who, _ in rows] == ["desk", "desk2"]
