"""Finding and working the calls: search, filters, pages, follow-ups, trends, CSV, audit, access."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from conftest import csrf_token_of, login
from records_helpers import CALLS, run_call

from voice.records.audit import AuditLog, AuditTampering
from voice.records.followups import FollowUpBook
from voice.records.scope import may_see
from voice.records.search import FORMULA_START, safe_cell
from voice.records.tables import AuditEntry

pytestmark = pytest.mark.usefixtures("office_clock")  # dated records, clock-relative figures

OLD_START = "2026-11-20T15:00:00+00:00"  # a Friday two weeks before the others


@pytest.fixture
def app(records_app):  # noqa: ANN001, ANN201
    """conftest's ``records_app``: each database, New York time, the keyword scorer."""
    return records_app


@pytest.fixture
def calls(app) -> dict[str, str]:  # noqa: ANN001
    run_call(app, "CA-bill", CALLS["billing"])
    run_call(app, "CA-ins", CALLS["insurance"], number="+15550002222")
    run_call(app, "CA-old", CALLS["waiting"], number="+15550003333", start=OLD_START)
    run_call(app, "CA-north", CALLS["refills"], number="+15550004444", desk="north")
    return {"bill": "CA-bill", "ins": "CA-ins", "old": "CA-old", "north": "CA-north"}


@pytest.fixture
def manager(app, store):  # noqa: ANN001, ANN201
    client = app.test_client()
    login(client, store, "maria", "manager")
    return client


@pytest.fixture
def desk(app, store):  # noqa: ANN001, ANN201
    client = app.test_client()
    login(client, store, "jenny", "receptionist")
    return client


def _csrf(client) -> str:  # noqa: ANN001
    return csrf_token_of(client, "/follow-ups")


def _sids(page: str, calls: dict[str, str]) -> set[str]:
    return {sid for sid in calls.values() if f'data-call-sid="{sid}"' in page}


def test_search_finds_the_callers_words_and_filters_combine(manager, calls) -> None:  # noqa: ANN001
    def shown(query: str) -> set[str]:
        response = manager.get(f"/review?{query}")
        assert response.status_code == 200, response.data
        return _sids(response.get_data(as_text=True), calls)

    assert shown("all=1&q=collections") == {"CA-bill"}
    assert shown("all=1&q=claim+denied") == {"CA-ins"}
    assert shown("all=1&q=Linda") == {"CA-ins"}, "the caller's name is searched too"
    assert shown("all=1&q=nothing+like+this") == set()
    assert shown("all=1&topic=billing") == {"CA-bill"}
    assert shown("all=1&desk=north") == {"CA-north"}
    assert shown("all=1&from=2026-11-19&to=2026-11-21") == {"CA-old"}
    assert shown("all=1&overdue=1") == {"CA-old"}, "its 'this afternoon' passed long ago"
    assert shown("all=1&follow_up=done") == set()
    assert shown("all=1&follow_up=open") == set(calls.values())
    assert shown("flagged=0") <= set(calls.values())


def test_pages_split_the_list(manager, calls) -> None:  # noqa: ANN001
    first = manager.get("/review?all=1&per_page=3").get_data(as_text=True)
    second = manager.get("/review?all=1&per_page=3&page=2").get_data(as_text=True)
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert len(_sids(first, calls)) == 3 and len(_sids(second, calls)) == 1
    assert not _sids(first, calls) & _sids(second, calls)


def test_a_bad_filter_is_a_clear_400(manager, calls) -> None:  # noqa: ANN001
    response = manager.get("/review?from=yesterday")
    assert response.status_code == 400 and b"from must be a date" in response.data


def test_every_view_of_a_record_is_audited(app, manager, store, calls) -> None:  # noqa: ANN001
    manager.get(f"/review/calls/{calls['bill']}")
    api = app.test_client().get(f"/api/calls/{calls['ins']}",
                                headers={"Authorization": "Bearer test-api-token"})
    assert api.status_code == 200 and api.get_json()["summary"]
    manager.get("/review/export.csv?all=1")
    manager.get("/review?all=1&q=collections")
    entries = AuditLog(store).entries()
    by_action = {e["action"]: e for e in entries}
    assert by_action["view_call"]["call_sid"] == "CA-bill"
    assert by_action["view_call"]["user"] == "maria" and by_action["view_call"]["role"] == "manager"
    assert by_action["view_call"]["from"] == "127.0.0.1"
    assert by_action["view_call_api"]["call_sid"] == "CA-ins"
    assert by_action["view_call_api"]["user"] == "api"
    assert by_action["export_csv"]["detail"]["rows"] == 4
    assert by_action["list_calls"]["detail"]["filter"]["q"] == "collections"
    just_bill = manager.get("/api/audit?call_sid=CA-bill").get_json()["entries"]
    assert [e["action"] for e in just_bill] == ["view_call"]
    assert manager.get("/api/audit?user=api").get_json()["entries"][0]["call_sid"] == "CA-ins"
    page = manager.get("/review/audit?user=maria").get_data(as_text=True)
    assert "CA-bill" in page and "export csv" in page


def test_the_audit_log_is_append_only(store, manager, calls) -> None:  # noqa: ANN001
    manager.get(f"/review/calls/{calls['bill']}")
    with pytest.raises(AuditTampering), store.session() as s:
        s.query(AuditEntry).first().username = "someone-else"
    with pytest.raises(AuditTampering), store.session() as s:
        s.delete(s.query(AuditEntry).first())
    assert AuditLog(store).entries()[0]["user"] == "maria"


def test_voice_audit_prints_the_log(app, manager, store, calls, database_url, monkeypatch) -> None:  # noqa: ANN001
    from click.testing import CliRunner

    from voice.cli import main

    manager.get(f"/review/calls/{calls['bill']}")
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["audit", "--call", "CA-bill"])
    assert result.exit_code == 0, result.output
    assert "maria" in result.output and "view_call" in result.output
    result = CliRunner().invoke(main, ["audit", "--user", "nobody"])
    assert "no audit entries match" in result.output


def test_a_receptionist_cannot_open_review_audit_export_or_another_desks_items(  # noqa: ANN001
        app, desk, store, calls) -> None:
    for path in ("/review", f"/review/calls/{calls['bill']}", "/review/audit",
                 "/review/export.csv", "/review/trends"):
        assert desk.get(path).status_code == 403, path
    assert desk.get("/api/audit").status_code == 403
    page = desk.get("/follow-ups").get_data(as_text=True)
    assert "Robert Alvarez" in page and "+15550004444" not in page, "only her desk's items"
    north_item = store.get_call(calls["north"])["follow_ups"][0]["id"]
    response = desk.post(f"/follow-ups/{north_item}",
                         data={"op": "done", "csrf_token": _csrf(desk)})
    assert response.status_code == 403
    assert store.get_call(calls["north"])["follow_ups"][0]["status"] == "open"
    other = desk.get(f"/console/calls/{calls['north']}/history")
    assert other.status_code == 403 and other.get_json()["error"] == "forbidden"
    assert desk.get("/console/calls/CAnope/history").status_code == 404


def test_another_desks_call_is_403_by_page_login_and_token_and_left_out_of_lists(  # noqa: ANN001
        app, desk, store, calls) -> None:
    token = store.users.issue_token("jenny")
    bearer = app.test_client()
    for client, headers in ((desk, {}), (bearer, {"Authorization": f"Bearer {token}"})):
        listed = client.get("/api/calls", headers=headers).get_json()["calls"]
        assert calls["north"] not in {c["call_sid"] for c in listed} and listed
        other = client.get(f"/api/calls/{calls['north']}", headers=headers)
        assert other.status_code == 403 and other.get_json()["error"] == "forbidden"
        assert client.get("/api/calls/CAnope", headers=headers).status_code == 404
        assert client.get(f"/api/calls/{calls['bill']}", headers=headers).status_code == 200
    assert desk.get(f"/review/calls/{calls['north']}").status_code == 403
    assert not AuditLog(store).entries(call_sid=calls["north"]), "a refused view is no view"


def test_desk_scope_follows_the_users_desks(app, store, calls) -> None:  # noqa: ANN001
    assert may_see(None, "north") and may_see(frozenset({"north"}), "north")
    assert not may_see(frozenset({"front-desk"}), "north") and not may_see(frozenset(), "x")
    both = app.test_client()
    login(both, store, "sam", "receptionist", desks=("front-desk", "north"))
    page = both.get("/follow-ups").get_data(as_text=True)
    assert "+15550004444" in page and "Robert Alvarez" in page, "both her desks' items"


def test_csv_export_is_formula_injection_safe(manager, store, calls) -> None:  # noqa: ANN001
    store.update_call(calls["bill"], caller_name='=HYPERLINK("http://evil.example","x")')
    store.update_call(calls["ins"], caller_name="@SUM(A1:A9)")
    response = manager.get("/review/export.csv?all=1")
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][0] == "call_sid" and len(rows) == 5
    cells = [cell for row in rows[1:] for cell in row]
    assert not [c for c in cells if c.startswith(FORMULA_START)]
    assert "'=HYPERLINK(\"http://evil.example\",\"x\")" in cells and "'@SUM(A1:A9)" in cells
    assert "'+15553217788" in cells, "a + phone number is text, not a formula"
    assert safe_cell("-2+3") == "'-2+3" and safe_cell("plain") == "plain"


def test_follow_ups_due_today_overdue_by_owner_and_mark_done(app, desk, store, calls) -> None:  # noqa: ANN001
    book = FollowUpBook(store, "America/New_York")
    thursday = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)  # 11:00 in New York
    friday = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
    front = frozenset({"front-desk"})
    assert book.counts(desks=front, now=thursday) == {"due_today": 0, "overdue": 1, "open": 3}
    due_friday = book.items(desks=front, view="today", now=friday)
    assert {i["call_sid"] for i in due_friday} == {"CA-bill", "CA-ins"}
    assert [i["call_sid"] for i in book.items(desks=front, view="overdue", now=thursday)] == [
        "CA-old"]
    assert {o["owner"] for o in book.owners(desks=None)} == {"Jenny"}
    item = store.get_call(calls["bill"])["follow_ups"][0]
    token = _csrf(desk)
    assert desk.post(f"/follow-ups/{item['id']}", data={
        "op": "assign", "assignee": "sam", "csrf_token": token}).status_code == 302
    assert desk.post(f"/follow-ups/{item['id']}", data={
        "op": "done", "note": "Called Robert, billing fixed it", "csrf_token": token,
    }).status_code == 302
    done = store.get_call(calls["bill"])["follow_ups"][0]
    assert done["status"] == "done" and done["owner"] == "sam"
    assert "jenny: Called Robert, billing fixed it" in done["notes"]
    assert done["closed_on_time"] is True
    counts = desk.get("/follow-ups/counts").get_json()
    assert set(counts) == {"due_today", "overdue", "open"} and counts["open"] == 2
    assert "due today" in desk.get("/console").get_data(as_text=True)


def test_the_console_gets_the_callers_history_at_call_start(app, desk, store, calls) -> None:  # noqa: ANN001
    from voice.events import CallStarted

    services = app.extensions["voice"]
    services.calls.open(CallStarted("CA-again", "+15553217788", desk="front-desk"),
                        with_audio=False)
    history = desk.get("/console/calls/CA-again/history").get_json()
    assert [c["call_sid"] for c in history["previous_calls"]] == ["CA-bill"]
    assert history["previous_calls"][0]["topic"] == "billing"
    assert history["open_follow_ups"][0]["due_text"].startswith("Fri 04 Dec 12:00")
    assert AuditLog(store).entries(call_sid="CA-again")[0]["action"] == "history"


def test_trends_count_tense_calls_and_follow_ups_closed_on_time(manager, store, calls) -> None:  # noqa: ANN001
    from voice.records.trends import follow_up_outcomes, tense_by_topic

    now = datetime(2026, 12, 5, tzinfo=UTC)
    tense = tense_by_topic(store, timezone="America/New_York", now=now)
    assert {(b["week"], b["topic"]) for b in tense if b["tense"]} >= {
        ("2026-W49", "billing"), ("2026-W47", "waiting")}
    item = store.get_call(calls["old"])["follow_ups"][0]
    store.update_follow_up(item["id"], status="done")  # long after "this afternoon"
    weeks = {w["week"]: w for w in follow_up_outcomes(store, timezone="America/New_York",
                                                      now=now)}
    assert weeks["2026-W49"]["opened"] == 4 and weeks["2026-W49"]["closed_late"] == 1
    page = manager.get("/review/trends").get_data(as_text=True)
    assert "Tense calls per topic" in page and "closed on time" in page.lower()
