"""The console in a real browser: log in, watch a simulated call, tick a prompt done."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests
from conftest import LiveServer, chromium_or_skip, import_or_missing
from sim_helpers import FakeScorer, scenario_path, wait_for

from voice import create_app
from voice.config import Config
from voice.scenarios.script import load_scenario, scenario_to_json
from voice.services import services_of

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
LEVEL_ORDER = ["calm", "tense", "upset", "escalating"]


@pytest.fixture
def browser():  # noqa: ANN201
    executable = chromium_or_skip()
    playwright_api = import_or_missing("playwright.sync_api", "pip install -e '.[test]'")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()



def log_in_to_console(page, base_url: str) -> None:  # noqa: ANN001
    """Log in as jenny and wait until the console's event stream is live."""
    page.goto(f"{base_url}/console")
    page.fill("#username", "jenny")
    page.fill("#password", "front-desk-pass")
    page.click("button[type=submit]")
    page.wait_for_url("**/console")
    page.wait_for_selector("#conn[data-state=live]")

def test_console_shows_a_live_call_and_records_done(browser, config: Config,  # noqa: ANN001
                                                    tmp_path: Path) -> None:
    app = create_app(config, scorer=FakeScorer())
    store = services_of(app).store
    store.users.add("jenny", "front-desk-pass", "receptionist", ["front-desk"])
    with LiveServer(app) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        blocked: list[str] = []  # what the Content-Security-Policy refused, if anything
        page.on("console", lambda m: blocked.append(m.text)
                if "Content Security Policy" in m.text else None)
        log_in_to_console(page, server.url)
        assert page.is_visible("#idle")

        body = {**scenario_to_json(load_scenario(scenario_path("billing_dispute"))), "speed": 5}
        started = requests.post(f"{server.url}/api/simulate", json=body, timeout=10,
                                headers={"Authorization": "Bearer test-api-token"})
        assert started.status_code == 202, started.text
        sid = started.json()["call_sid"]

        call = page.locator(f"#call-{sid}")
        call.wait_for(timeout=30_000)
        assert call.locator(".caller-number").inner_text().startswith("+15550178834")
        # locator waits, not wait_for_function: the page's CSP (no eval) refuses the latter
        page.locator(f"#call-{sid}:not([data-level=calm])").wait_for(timeout=60_000)
        assert int(call.locator(".meter").get_attribute("aria-valuenow")) > 0
        call.locator(".prompt").nth(2).wait_for(timeout=60_000)

        on_page = call.locator(".prompt").evaluate_all("cs => cs.map(c => c.dataset.promptId)")
        shown = wait_for(lambda: (ids := [p["id"] for p in store.get_call(sid)["prompts"]])
                         and set(on_page) <= set(ids) and ids)  # recorded just after publishing
        arrived = [pid for pid in shown if pid in on_page]
        assert on_page == arrived[::-1], "cards must be newest first"

        newest_id = call.locator(".prompt").first.get_attribute("data-prompt-id")
        # by its id: a card that arrives now becomes .first, and the click must not follow it
        call.locator(f".prompt[data-prompt-id='{newest_id}'] button.done").click()
        call.locator(f".prompt.acted.done[data-prompt-id='{newest_id}']").wait_for()
        recorded = {p["id"]: p for p in store.get_call(sid)["prompts"]}[newest_id]
        assert (recorded["status"], recorded["acted_by"]) == ("done", "jenny")

        call.locator(".transcript .line").nth(3).wait_for()
        shot = tmp_path / "console.png"
        page.screenshot(path=str(shot), full_page=True)
        shutil.copy(shot, "/tmp/console.png")
        # The caller may have calmed down by now (the scenario plays at 5x): the rise was
        # awaited above, here the page must still show a level it knows.
        assert call.get_attribute("data-level") in LEVEL_ORDER
        assert blocked == [], blocked

        page.click("button:has-text('Log out')")  # a POST with the CSRF token
        page.wait_for_url("**/login")
        page.goto(f"{server.url}/console")
        assert "/login?next=" in page.url  # the login is gone
        page.close()


def test_console_reconnects_after_a_502_and_a_restart_then_says_the_login_expired(
    browser, config: Config  # noqa: ANN001
) -> None:
    """EventSource gives up for good on an HTTP error; the page must not."""
    from voice.bus import MemoryBus

    app = create_app(config, scorer=FakeScorer())
    svc = services_of(app)
    svc.store.users.add("jenny", "front-desk-pass", "receptionist", ["front-desk"])
    streams = []
    real_subscribe = MemoryBus.subscribe

    def tracked_subscribe(bus, desk, after=None):  # noqa: ANN001, ANN202
        subscription = real_subscribe(bus, desk, after=after)
        streams.append(subscription)
        return subscription

    def cut_streams() -> None:  # the server drops every open stream, as a restart does
        for subscription in streams:
            def broken(timeout: float) -> None:
                raise ConnectionResetError("server going away")
            subscription.get = broken

    urls: list[str] = []
    with LiveServer(app) as server, pytest.MonkeyPatch.context() as patch:
        patch.setattr(MemoryBus, "subscribe", tracked_subscribe)
        page = browser.new_page()
        page.on("request", lambda r: urls.append(r.url) if "/events" in r.url else None)
        log_in_to_console(page, server.url)
        svc.bus.publish("front-desk", "call_started", {"call_sid": "CAghost", "from": "+1555"})
        page.locator("#call-CAghost").wait_for()

        # a restart: a proxy answers 502 meanwhile, and the new process has a fresh bus
        page.route("**/events*", lambda route: route.fulfill(status=502, body="Bad Gateway"))
        svc.bus = MemoryBus()
        cut_streams()
        page.wait_for_selector("#conn[data-state=lost]")
        # the browser's own retry got the 502 and gave up; the page waits, then tries again
        page.locator("#conn", has_text="Reconnecting in").wait_for(timeout=15_000)
        page.unroute("**/events*")
        page.wait_for_selector("#conn[data-state=live]", timeout=30_000)
        assert "last_event_id=" in urls[-1]  # the page carried its place across
        # the old id means nothing to the new bus: a snapshot, and the ghost call goes
        page.wait_for_selector("#call-CAghost.ended", timeout=10_000)

        # the login expires: no endless retrying, a clear banner with a link instead
        page.context.clear_cookies()
        cut_streams()
        page.wait_for_selector("#login-expired:not([hidden])", timeout=30_000)
        assert "log in again" in page.inner_text("#login-expired").lower()
        assert page.get_attribute("#conn", "data-state") == "expired"
        page.click("#login-expired a")
        page.wait_for_url("**/login?next=*")
        page.close()


UPSET_INSURANCE_CALL = {
    "title": "Insurance denial, a passive receptionist",
    "caller": "+15550140041",
    "turns": [
        {"speaker": "receptionist", "at": 0.5, "text": "Maple Street Family Practice."},
        {"speaker": "caller", "at": 2.0,
         "text": "Hi, my name is Rosa Diaz. My insurance denied my claim for the MRI."},
        {"speaker": "receptionist", "at": 6.0, "text": "Okay."},
        {"speaker": "caller", "at": 8.0,
         "text": "Nobody here is taking responsibility. I have called three times."},
        {"speaker": "receptionist", "at": 12.0, "text": "Mm-hm."},
        {"speaker": "caller", "at": 14.0,
         "text": "So what are you going to do about it? This is ridiculous."},
        {"speaker": "receptionist", "at": 18.0, "text": "Let me see."},
        {"speaker": "caller", "at": 20.0, "text": "It is unacceptable, nobody ever calls back."},
        {"speaker": "receptionist", "at": 400.0, "text": "One moment please."},
    ],
}


def _box(locator):  # noqa: ANN001, ANN202
    box = locator.bounding_box()
    assert box is not None
    return box


def test_the_console_shows_the_card_to_say_now_big_with_the_meter_beside_it(
    browser, config: Config, tmp_path: Path  # noqa: ANN001
) -> None:
    app = create_app(config, scorer=FakeScorer())
    store = services_of(app).store
    store.users.add("jenny", "front-desk-pass", "receptionist", ["front-desk"])
    with LiveServer(app) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        log_in_to_console(page, server.url)
        started = requests.post(f"{server.url}/api/simulate", timeout=10,
                                json={**UPSET_INSURANCE_CALL, "speed": 4},
                                headers={"Authorization": "Bearer test-api-token"})
        assert started.status_code == 202, started.text
        sid = started.json()["call_sid"]
        call = page.locator(f"#call-{sid}")
        call.wait_for(timeout=30_000)
        # locator waits, not wait_for_function: the page's CSP (no eval) refuses the latter
        call.locator(".history .prompt").nth(1).wait_for(timeout=60_000)
        # the last caller line is on screen: the cards settled
        call.locator(".line.caller", has_text="calls back").wait_for(timeout=60_000)

        current = call.locator(".now .prompt")
        assert current.count() == 1, "exactly one card to say now"
        recorded = wait_for(lambda: store.get_call(sid)["prompts"])
        newest = max(recorded, key=lambda p: p["t"])
        assert current.get_attribute("data-prompt-id") == newest["id"]
        kinds = [p["kind"] for p in sorted(recorded, key=lambda p: p["t"])]
        assert kinds[:2] == ["empathize", "next_step"], "empathy first, then the next step"

        assert current.locator(".kind").inner_text().strip()
        assert current.locator(".why").inner_text() == newest["why"]
        why_box = _box(current.locator(".why"))
        assert why_box["height"] < 30, "the why is one line"
        assert current.locator("button.done").is_visible()
        assert current.locator("button.dismiss").is_visible()

        earlier = call.locator(".history .prompt.earlier")
        assert earlier.count() >= 2
        font_px = "e => parseFloat(getComputedStyle(e).fontSize)"
        big = float(current.locator(".text").evaluate(font_px))
        small = float(earlier.first.locator(".text").evaluate(font_px))
        assert big >= 1.5 * small, (big, small)
        grey = earlier.first.evaluate("e => getComputedStyle(e).backgroundColor")
        assert grey != current.evaluate("e => getComputedStyle(e).backgroundColor")
        assert earlier.first.locator(".why").is_hidden()

        card, state = _box(call.locator(".now")), _box(call.locator(".state"))
        assert state["x"] >= card["x"] + card["width"], "meter and reasons beside the card"
        assert state["y"] < card["y"] + card["height"] and card["y"] < state["y"] + state["height"]
        assert call.locator(".state .reasons li").count() >= 1

        shot = tmp_path / "console-cards.png"
        page.screenshot(path=str(shot), full_page=True)
        shutil.copy(shot, "/tmp/console-cards.png")

        # a reload draws the same screen from the snapshot: newest on top, then the history
        order = "cs => cs.map(c => c.dataset.promptId)"
        before = call.locator(".prompt").evaluate_all(order)
        page.reload()
        page.wait_for_selector("#conn[data-state=live]")
        call.locator(".now .prompt").wait_for()
        assert call.locator(".prompt").evaluate_all(order) == before

        current = call.locator(".now .prompt")
        top_id = current.get_attribute("data-prompt-id")
        current.locator("button.dismiss").click()
        call.locator(f".history .prompt.acted.dismissed[data-prompt-id='{top_id}']").wait_for()
        assert call.locator(".now .prompt").count() == 0
        assert call.locator(".now .now-empty").is_visible()
        status = wait_for(lambda: {p["id"]: p for p in store.get_call(sid)["prompts"]}[top_id]
                          ["status"] == "dismissed")
        assert status
        page.close()
