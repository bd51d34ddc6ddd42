"""The manager's review pages: access, flagged list, call detail with curve, follow-ups."""

from __future__ import annotations

import pytest
from conftest import csrf_token_of, login
from sim_helpers import play

from voice.review.curve import frustration_svg
from voice.review.trends import trend_table
from voice.services import services_of


@pytest.fixture
def app(scored_app):  # noqa: ANN001, ANN201
    return scored_app


@pytest.fixture
def store(app):  # noqa: ANN001, ANN201
    return services_of(app).store


@pytest.fixture
def manager(app, store):  # noqa: ANN001, ANN201
    client = app.test_client()
    login(client, store, "maria", "manager")
    return client


@pytest.fixture
def calls(app) -> dict[str, str]:  # noqa: ANN001
    return {"tense": play(app, "billing_dispute"), "calm": play(app, "calm_booking")}


def _csrf(client) -> str:  # noqa: ANN001
    return csrf_token_of(client, "/review")


def test_review_needs_a_manager(app, store, calls) -> None:  # noqa: ANN001
    anonymous = app.test_client()
    assert anonymous.get("/review").status_code == 302
    desk = app.test_client()
    login(desk, store, "desk", "receptionist")
    assert desk.get("/review").status_code == 403
    assert desk.get(f"/review/calls/{calls['tense']}").status_code == 403
    assert desk.post(f"/review/calls/{calls['tense']}/follow-ups/1",
                     data={"op": "close", "csrf_token": csrf_token_of(desk)}).status_code == 403


def test_list_shows_flagged_calls_and_toggles_to_all(manager, store, calls) -> None:  # noqa: ANN001
    tense = store.get_call(calls["tense"])
    assert tense["flagged"] and not store.get_call(calls["calm"])["flagged"]
    page = manager.get("/review").get_data(as_text=True)
    assert calls["tense"] in page and calls["calm"] not in page
    assert tense["flag_reasons"][0].replace("'", "&#39;") in page
    assert tense["peak_level"] in page and "open" in page
    everything = manager.get("/review?all=1").get_data(as_text=True)
    assert calls["tense"] in everything and calls["calm"] in everything
    assert "Topics week to week" in page


def test_call_page_has_curve_transcript_prompts_and_follow_up(manager, store, calls) -> None:  # noqa: ANN001
    record = store.get_call(calls["tense"])
    page = manager.get(f"/review/calls/{calls['tense']}").get_data(as_text=True)
    assert '<svg class="curve"' in page
    assert page.count("<circle") == len(record["frustration"]) > 0
    assert "Why it was flagged" in page
    assert "Linda Morris" in page or record["utterances"][1]["text"][:30] in page
    assert record["prompts"][0]["text"][:20].replace('"', "&#34;") in page
    assert record["follow_ups"][0]["summary"][:20] in page
    assert 'name="csrf_token"' in page


def test_follow_up_assign_note_close_reopen(manager, store, calls) -> None:  # noqa: ANN001
    sid = calls["tense"]
    manager.get(f"/review/calls/{sid}")
    follow_up = store.get_call(sid)["follow_ups"][0]
    url = f"/review/calls/{sid}/follow-ups/{follow_up['id']}"
    token = _csrf(manager)

    def post(**form: str):  # noqa: ANN202
        return manager.post(url, data={"csrf_token": token, **form})

    assert post(op="assign", assignee="sam").status_code == 302
    assert post(op="note", note="Left a voicemail").status_code == 302
    assert post(op="note", note="Spoke to Linda, resubmitted claim").status_code == 302
    assert post(op="close").status_code == 302
    item = store.get_call(sid)["follow_ups"][0]
    assert (item["assignee"], item["status"]) == ("sam", "closed")
    assert "maria: Left a voicemail" in item["note"] and "resubmitted claim" in item["note"]
    assert item["closed_at"] is not None
    post(op="reopen")
    assert store.get_call(sid)["follow_ups"][0]["status"] == "open"
    page = manager.get(f"/review/calls/{sid}").get_data(as_text=True)
    assert "sam" in page and "Left a voicemail" in page


def test_follow_up_post_needs_the_csrf_token(manager, store, calls) -> None:  # noqa: ANN001
    sid = calls["tense"]
    follow_up = store.get_call(sid)["follow_ups"][0]
    response = manager.post(f"/review/calls/{sid}/follow-ups/{follow_up['id']}",
                            data={"op": "close", "csrf_token": "forged"})
    assert response.status_code == 400
    assert store.get_call(sid)["follow_ups"][0]["status"] == "open"


def test_unknown_call_or_follow_up_is_404(manager, calls) -> None:  # noqa: ANN001
    assert manager.get("/review/calls/CAnope").status_code == 404
    manager.get(f"/review/calls/{calls['tense']}")
    response = manager.post(f"/review/calls/{calls['tense']}/follow-ups/9999",
                            data={"op": "close", "csrf_token": _csrf(manager)})
    assert response.status_code == 404


def test_curve_svg_escapes_reasons_and_handles_no_points() -> None:
    svg = frustration_svg([{"t": 3.0, "score": 0.8, "level": "upset", "reasons": ["<b>loud</b>"]}])
    assert "&lt;b&gt;loud&lt;/b&gt;" in svg and "<b>" not in svg
    assert "No frustration readings" in frustration_svg([])


def test_trend_table_puts_rising_topics_first() -> None:
    table = trend_table([
        {"week": "2026-W01", "topic": "billing", "calls": 5, "flagged": 1},
        {"week": "2026-W02", "topic": "billing", "calls": 2, "flagged": 0},
        {"week": "2026-W02", "topic": "insurance", "calls": 4, "flagged": 2},
    ])
    assert table.weeks == ["2026-W01", "2026-W02"]
    assert [r.topic for r in table.rows] == ["insurance", "billing"]
    assert table.rows[0].calls == [0, 4] and table.rows[1].change == -3 and table.peak == 5
