"""The records in a real browser (Playwright + Debian Chromium), with screenshots:
a manager finds a call by the caller's words, follows a summary line to its transcript
line, reassigns the follow-up and marks it done; a receptionist's console shows a repeat
caller's history and the "due today" count."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import LiveServer
from records_helpers import CALLS, run_call
from sim_helpers import FakeScorer
from test_browser import browser, log_in_to_console  # noqa: F401 - the fixture

from voice import create_app
from voice.config import Config
from voice.events import CallStarted

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/records-screenshots")


def _shot(page, tmp_path: Path, name: str) -> None:  # noqa: ANN001
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SHOTS.mkdir(exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def _app(tmp_path: Path):  # noqa: ANN202
    config = Config.for_testing(database_url=f"sqlite:///{tmp_path / 'voice.db'}",
                                timezone="America/New_York")
    return create_app(config, scorer=FakeScorer())


def test_manager_finds_a_call_follows_its_summary_and_closes_the_follow_up(  # noqa: ANN001
        browser, tmp_path: Path) -> None:  # noqa: F811
    app = _app(tmp_path)
    store = app.extensions["voice"].store
    store.users.add("maria", "manager-pass-1-long", "manager")
    run_call(app, "CA-bill", CALLS["billing"])
    run_call(app, "CA-ins", CALLS["insurance"], number="+15550002222")
    with LiveServer(app) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{server.url}/review")
        page.fill("#username", "maria")
        page.fill("#password", "manager-pass-1-long")
        page.click("button[type=submit]")
        page.wait_for_url("**/review")

        page.fill("#q", "collections")
        page.select_option("select[name=flagged]", "any")
        page.click("#search")
        page.wait_for_url("**q=collections**")
        rows = page.locator("tr[data-call-sid]")
        assert rows.count() == 1 and rows.first.get_attribute("data-call-sid") == "CA-bill"
        _shot(page, tmp_path, "1-search")

        rows.first.locator("a.open-call").click()
        page.wait_for_url("**/review/calls/CA-bill")
        went_wrong = page.locator(".summary-lines li.went_wrong a.to-line").first
        target = went_wrong.get_attribute("href")
        went_wrong.click()
        page.wait_for_url(f"**{target}")
        line = page.locator(f"li{target}")
        assert "ridiculous" in line.inner_text() or "collections" in line.inner_text()
        assert page.evaluate(f"document.querySelector('{target}').matches(':target')")
        assert line.is_visible()
        _shot(page, tmp_path, "2-summary-to-transcript")

        item = page.locator(".follow-up").first
        assert "tomorrow before noon" in item.inner_text() and "Jenny" in item.inner_text()
        item.locator("input[name=assignee]").fill("sam")
        item.locator("form:has(input[value=assign]) button").click()
        page.wait_for_url("**#follow-up")
        assert page.locator(".follow-up .owner").first.inner_text() == "sam"
        done_form = page.locator(".follow-up form:has(input[value=close])").first
        done_form.locator("input[name=note]").fill("Called Robert; billing reversed it")
        done_form.locator("button").click()
        page.wait_for_url("**#follow-up")
        assert page.locator(".follow-up .status").first.inner_text().lower() == "done"
        assert "billing reversed it" in page.locator(".follow-up .note").first.inner_text()
        _shot(page, tmp_path, "3-follow-up-done")
        page.close()
    item = store.get_call("CA-bill")["follow_ups"][0]
    assert (item["owner"], item["status"]) == ("sam", "done")
    actions = [e["action"] for e in __import__("voice.records.audit", fromlist=["AuditLog"])
               .AuditLog(store).entries(user="maria")]
    assert "list_calls" in actions and "view_call" in actions


def test_console_shows_a_repeat_callers_history_and_the_due_today_count(  # noqa: ANN001
        browser, tmp_path: Path) -> None:  # noqa: F811
    app = _app(tmp_path)
    services = app.extensions["voice"]
    services.store.users.add("jenny", "front-desk-pass", "receptionist", ["front-desk"])
    run_call(app, "CA-first", CALLS["billing"])
    with LiveServer(app) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        log_in_to_console(page, server.url)
        page.wait_for_selector("#due-today:not([hidden])")
        services.calls.open(CallStarted("CA-again", "+15553217788", desk="front-desk"),
                            with_audio=False)
        box = page.locator("#call-CA-again .caller-history")
        box.wait_for(timeout=15_000)
        text = box.inner_text()
        assert "Still open" in text and "call them tomorrow before noon" in text
        assert "billing" in text
        _shot(page, tmp_path, "4-console-history")
        page.close()
