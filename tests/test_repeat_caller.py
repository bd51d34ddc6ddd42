"""A repeat caller with an open promise that was not kept gets the card owning it first,
on SQLite and PostgreSQL: the history is looked up at call start and handed to the coach
through the call's parts; callers with nothing overdue get no such card."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from records_helpers import CALLS, GREETING, run_call
from sim_helpers import FakeScorer

from voice import create_app
from voice.coach import load_playbook, unkept_promise
from voice.coach.playbook import PlaybookError
from voice.config import Config
from voice.services import services_of

PROMPTS = Path(__file__).resolve().parents[1] / "prompts"
OWN = "own_unkept_promise"
AGAIN = [GREETING, ("caller", "hi it's robert again about my bill"),
         ("receptionist", "okay let me pull that up")]


@pytest.fixture
def app(database_url: str):  # noqa: ANN201
    config = Config.for_testing(database_url=database_url, timezone="America/New_York")
    application = create_app(config, scorer=FakeScorer())
    yield application
    services_of(application).calls.end_all("interrupted")


def _prompt_ids(call: dict) -> list[str]:
    return [p["id"] for p in call["prompts"]]


def test_an_overdue_promise_is_the_first_card_of_the_next_call(app) -> None:  # noqa: ANN001
    first = run_call(app, "CA-first", CALLS["billing"])  # promised: tomorrow (Fri) before noon
    assert any(f["kind"] == "promise" and f["status"] == "open" for f in first["follow_ups"])
    second = run_call(app, "CA-second", AGAIN, start="2026-12-05T15:00:00+00:00")  # Saturday
    prompts = second["prompts"]
    assert prompts and prompts[0]["id"] == OWN, _prompt_ids(second)
    assert prompts[0]["t"] == 0.0 and prompts[0]["kind"] == "own"
    assert prompts[0]["text"].startswith(
        'Own it first: "We promised you a callback yesterday and didn\'t follow through')
    assert _prompt_ids(second).count(OWN) == 1


def test_no_card_for_a_new_caller_a_promise_not_yet_due_or_one_done(app) -> None:  # noqa: ANN001
    run_call(app, "CA-first", CALLS["billing"])
    stranger = run_call(app, "CA-stranger", AGAIN, number="+15550001111",
                        start="2026-12-05T15:00:00+00:00")
    assert OWN not in _prompt_ids(stranger)
    same_day = run_call(app, "CA-same-day", AGAIN, start="2026-12-03T18:00:00+00:00")
    assert OWN not in _prompt_ids(same_day), "the promise is due tomorrow: not broken yet"
    store = services_of(app).store
    for item in store.get_call("CA-first")["follow_ups"]:
        store.update_follow_up(item["id"], status="done")
    kept = run_call(app, "CA-kept", AGAIN, start="2026-12-05T15:00:00+00:00")
    assert OWN not in _prompt_ids(kept)


def test_the_promise_and_when_words_come_from_the_open_item() -> None:
    now = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
    history = {"open_follow_ups": [
        {"id": 1, "kind": "promise", "status": "open", "due_at": "2026-12-03T22:00:00+00:00",
         "call_sid": "CA-a", "what": "Send the refill request.",
         "source": {"text": "i'll send the refill request to the pharmacy"}},
        {"id": 2, "kind": "request", "status": "open", "due_at": "2026-12-06T15:00:00+00:00",
         "call_sid": "CA-b", "what": "the caller asked: call them back"},
        {"id": 3, "kind": "promise", "status": "open", "due_at": None, "call_sid": "CA-c"},
    ]}
    found = unkept_promise(history, now, "America/New_York")
    assert found is not None and found.follow_up_id == 1
    assert (found.promise, found.promised_when) == ("to send you that", "on Thursday")
    assert unkept_promise({"open_follow_ups": []}, now) is None


def test_promise_slots_need_the_condition(tmp_path) -> None:  # noqa: ANN001
    shutil.copy(PROMPTS / "stages.yaml", tmp_path / "stages.yaml")
    (tmp_path / "h.yaml").write_text(
        "prompts:\n  - id: owe\n    kind: own\n    why: w\n"
        "    text: We promised {promise} {promised_when}.\n")
    with pytest.raises(PlaybookError, match="promise"):
        load_playbook(tmp_path)
    (tmp_path / "h.yaml").write_text(
        "prompts:\n  - id: owe\n    kind: own\n    why: w\n    when: {promise_unkept: true}\n"
        "    text: We promised {promise} {promised_when}.\n")
    assert load_playbook(tmp_path).prompt("owe").when.promise_unkept is True
