"""One wire contract: live events and the snapshot share their keys; the page's facts come
from Python (one JSON block in the page), and console.js re-declares none of them."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from html import unescape
from pathlib import Path

import pytest
import yaml
from conftest import login
from sim_helpers import FakeScorer

from voice import create_app
from voice.config import Config
from voice.console import facts as console_facts
from voice.console.facts import FACTS_ELEMENT_ID, page_facts
from voice.console.sse import desk_snapshot
from voice.events import (
    CARD_KINDS,
    LEVELS,
    SPEAKERS,
    AudioFeatures,
    CallStarted,
    Utterance,
    Word,
)
from voice.services import services_of

CONSOLE_JS = Path(__file__).parent.parent / "voice" / "console" / "static" / "console.js"
STAGES_YAML = Path(__file__).parent.parent / "prompts" / "stages.yaml"
ANGRY_CALL = [
    ("caller", 1.0, "Hi, my name is Maria Lopez and I'm calling about my bill", -28.0),
    ("receptionist", 4.0, "Sure, how can I help you today?", -30.0),
    ("caller", 6.0, "This is ridiculous, the third time I've called, I want a manager", -15.0),
    ("caller", 10.0, "It is unacceptable that nobody called me back", -14.0),
]


@pytest.fixture
def app(config: Config):  # noqa: ANN201
    application = create_app(config, scorer=FakeScorer())
    yield application
    services_of(application).calls.end_all("interrupted")


def _words(text: str, at: float) -> tuple[Word, ...]:
    return tuple(Word(w, at + i * 0.2, at + i * 0.2 + 0.15, 0.9)
                 for i, w in enumerate(text.split()))


def _page_facts(html: str) -> dict:
    found = re.search(rf"<div id=\"{FACTS_ELEMENT_ID}\" hidden data-facts='([^']*)'>", html)
    assert found, "the console page carries its facts as one JSON block"
    return json.loads(unescape(found.group(1)))


def test_the_snapshot_and_the_live_events_share_their_keys(app) -> None:  # noqa: ANN001
    svc = services_of(app)
    subscription = svc.bus.subscribe("front-desk")
    live = svc.calls.open(CallStarted("CAwire", "+15550001111", "+15550100", "front-desk",
                                      "2026-01-01T10:00:00+00:00"), with_audio=False)
    for speaker, at, text, loudness in ANGRY_CALL:
        live.add_utterance(Utterance("CAwire", speaker, text, at, at + 2.0, True,
                                     _words(text, at), AudioFeatures(rms_dbfs=loudness)))
    assert svc.publisher.flush() and svc.writer.flush()
    live_events: dict[str, dict] = {}
    while (message := subscription.get(0.2)) is not None:
        live_events.setdefault(message.type, message.data)
    assert {"call_started", "transcript", "frustration", "prompt"} <= set(live_events)

    (call,) = desk_snapshot(svc.store, "front-desk")["calls"]
    assert set(call) == set(live_events["call_started"]) | {"frustration", "transcript",
                                                             "prompts"}
    assert call["from"] == live_events["call_started"]["from"] == "+15550001111"
    assert set(call["transcript"][-1]) == set(live_events["transcript"])
    assert set(call["transcript"][-1]["words"][0]) == set(live_events["transcript"]["words"][0])
    assert set(call["frustration"]) == set(live_events["frustration"])
    assert call["prompts"], "the angry call has an open card"
    assert set(call["prompts"][0]) == set(live_events["prompt"])
    live.end("completed")
    assert svc.publisher.flush()
    ended = [m for m in iter(lambda: subscription.get(0.2), None) if m.type == "call_ended"]
    assert ended and ended[0].data["status"] == "completed"
    subscription.close()


def test_the_page_carries_the_python_facts(app) -> None:  # noqa: ANN001
    svc = services_of(app)
    client = app.test_client()
    login(client, svc.store)
    facts = _page_facts(client.get("/console").get_data(as_text=True))
    assert facts == page_facts(svc.playbook.current() if svc.playbook else None)
    assert facts["levels"] == list(LEVELS) and facts["speakers"] == list(SPEAKERS)
    titles = yaml.safe_load(STAGES_YAML.read_text())["kinds"]
    assert facts["kind_titles"] == titles and set(titles) == set(CARD_KINDS)


def test_a_constant_changed_in_python_reaches_the_page(app, monkeypatch) -> None:  # noqa: ANN001
    svc = services_of(app)
    client = app.test_client()
    login(client, svc.store)
    monkeypatch.setattr(console_facts, "TRANSCRIPT_LINES", 9)
    monkeypatch.setitem(console_facts.SPEAKER_LABELS, "receptionist", "Front desk")
    facts = _page_facts(client.get("/console").get_data(as_text=True))
    assert facts["transcript_lines"] == 9
    assert facts["speaker_labels"]["receptionist"] == "Front desk"


def test_a_kind_title_edited_in_the_playbook_reaches_the_page(config: Config,
                                                              tmp_path: Path) -> None:
    prompts = tmp_path / "prompts"
    shutil.copytree(config.prompts_dir, prompts)
    stages = prompts / "stages.yaml"
    stages.write_text(stages.read_text().replace("  own: Take responsibility",
                                                 "  own: Own the problem"))
    application = create_app(replace(config, prompts_dir=prompts), scorer=FakeScorer())
    try:
        client = application.test_client()
        login(client, services_of(application).store)
        facts = _page_facts(client.get("/console").get_data(as_text=True))
    finally:
        services_of(application).calls.end_all("interrupted")
    assert facts["kind_titles"]["own"] == "Own the problem"


def test_console_js_declares_none_of_the_facts() -> None:
    script = CONSOLE_JS.read_text()
    assert f'getElementById("{FACTS_ELEMENT_ID}").dataset.facts' in script
    assert "from_number" not in script, "the page reads one name for the caller's number"
    for fact in ("escalating", "Take responsibility", "Your words", '"receptionist"'):
        assert fact not in script, f"console.js re-declares {fact}"
    assert not re.search(r"TRANSCRIPT_LINES\s*=\s*\d", script)


def test_the_review_page_titles_cards_from_the_playbook(scored_app) -> None:  # noqa: ANN001
    from sim_helpers import play

    svc = services_of(scored_app)
    call_sid = play(scored_app, "billing_dispute")
    client = scored_app.test_client()
    login(client, svc.store, "maria", "manager")
    page = client.get(f"/review/calls/{call_sid}").get_data(as_text=True)
    titles = yaml.safe_load(STAGES_YAML.read_text())["kinds"]
    kinds = {p["kind"] for p in svc.store.get_call(call_sid)["prompts"]}
    assert kinds
    for kind in kinds:
        assert f'<span class="kind">{titles[kind]}</span>' in page
    assert '<span class="who">Caller</span>' in page
