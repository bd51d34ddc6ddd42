"""Live console views are audited: each call a console page is shown (its snapshot or its
events) gives one ``view_live`` row per login, call and page load, not one per event, on
SQLite and PostgreSQL; without an audit row the page is not shown the call."""

from __future__ import annotations

import pytest
from conftest import login
from sim_helpers import FakeScorer
from test_console import Stream

from voice import create_app
from voice.config import Config
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


def test_a_page_load_is_audited_once_per_call_not_per_event(app, desk_client) -> None:  # noqa: ANN001
    _live(app, "CA-mid")
    stream = Stream(desk_client.get("/events?page=load1"))
    (snapshot,) = stream.events(1)
    assert [c["call_sid"] for c in snapshot["data"]["calls"]] == ["CA-mid"]
    bus = services_of(app).bus
    last = None
    for n in range(5):
        bus.publish("front-desk", "utterance", {"call_sid": "CA-mid", "text": f"more {n}"})
        last = bus.publish("front-desk", "utterance", {"call_sid": "CA-new", "text": f"hi {n}"})
    stream.events(11)
    stream.close()
    (mid,) = _live_views(app, "CA-mid")
    (new,) = _live_views(app, "CA-new")
    assert mid["user"] == "desk" and mid["detail"] == {"desk": "front-desk", "page": "load1"}
    assert new["path"].startswith("/events")
    # the same page reconnecting adds nothing; a new page load is a new view
    again = Stream(desk_client.get(f"/events?page=load1&last_event_id={last.id}"))
    bus.publish("front-desk", "utterance", {"call_sid": "CA-new", "text": "still here"})
    again.events(1)
    again.close()
    assert len(_live_views(app, "CA-new")) == 1
    Stream(desk_client.get("/events?page=load2")).events(1)
    assert [r["detail"]["page"] for r in _live_views(app, "CA-mid")] == ["load2", "load1"]


def test_without_an_audit_row_the_page_is_not_shown_the_call(app, desk_client,  # noqa: ANN001
                                                            monkeypatch) -> None:  # noqa: ANN001
    _live(app, "CA-mid")

    def refuse(self, **row) -> None:  # noqa: ANN001, ANN003
        raise OSError("audit table unavailable")

    monkeypatch.setattr(AuditLog, "record", refuse)
    body = b"".join(desk_client.get("/events?page=load1").response).decode()
    assert "CA-mid" not in body and "snapshot" not in body
