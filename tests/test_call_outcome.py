"""Scripted calls, one per playbook topic, give the expected summary, follow-ups, due dates
and owners (fixed call start, office time zone America/New_York), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from records_helpers import CALLS, GREETING, run_call

TZ = ZoneInfo("America/New_York")

EXPECTED_DUE = {
    "billing": datetime(2026, 12, 4, 12, 0, tzinfo=TZ),       # tomorrow before noon
    "insurance": datetime(2026, 12, 4, 17, 0, tzinfo=TZ),     # by friday (close of day)
    "waiting": datetime(2026, 12, 3, 17, 0, tzinfo=TZ),       # this afternoon
    "rescheduled": datetime(2026, 12, 3, 11, 15, tzinfo=TZ),  # in an hour
    "results_callback": datetime(2026, 12, 11, 17, 0, tzinfo=TZ),  # next week (its friday)
    "refills": datetime(2026, 12, 12, 17, 0, tzinfo=TZ),      # on the 12th
}
EXPECTED_NAME = {"billing": "Robert Alvarez", "insurance": "Linda Morris", "waiting": "Maria",
                 "rescheduled": "Will Harper", "results_callback": "Ana Ruiz",
                 "refills": "Grace"}


@pytest.fixture
def app(records_app):  # noqa: ANN001, ANN201
    """conftest's ``records_app``: each database, New York time, the keyword scorer."""
    return records_app


@pytest.mark.parametrize("topic", sorted(CALLS))
def test_each_topic_gives_summary_and_a_follow_up_due_when_promised(app, topic: str) -> None:  # noqa: ANN001
    call = run_call(app, f"CA-{topic}", CALLS[topic])
    assert call["caller_name"] == EXPECTED_NAME[topic]
    assert topic in call["topics"]
    kinds = [line["kind"] for line in call["summary"]]
    assert kinds[0] == "wanted" and kinds[-1] == "ended" and "promised" in kinds, kinds
    assert "went_wrong" in kinds, "the tense turns are named"
    for line in call["summary"]:
        said = call["utterances"][line["utterance"]]
        assert line["t"] == said["t_start"]
        if line["kind"] in ("wanted", "went_wrong", "promised"):
            assert said["text"][:30] in line["text"], (line, said)
    promises = [f for f in call["follow_ups"] if f["kind"] == "promise"]
    assert len(promises) == 1, call["follow_ups"]
    item = promises[0]
    assert datetime.fromisoformat(item["due_at"]) == EXPECTED_DUE[topic]
    assert item["owner"] == "Jenny" and item["status"] == "open"
    assert EXPECTED_NAME[topic] in item["what"] and "+15553217788" in item["what"]
    assert "about their call" not in item["what"]
    assert call["utterances"][item["source"]["utterance"]]["speaker"] == "receptionist"


def test_the_doctor_is_named_when_the_promise_is_his(app) -> None:  # noqa: ANN001
    call = run_call(app, "CA-doc", CALLS["results_callback"])
    promised = next(line for line in call["summary"] if line["kind"] == "promised")
    assert "with the doctor" in promised["text"] and "Jenny" in promised["text"]


def test_a_tense_call_with_no_promise_still_gets_one_item_to_decide_on(app) -> None:  # noqa: ANN001
    call = run_call(app, "CA-nopromise", [
        GREETING,
        ("caller", "this is robert alvarez i got a bill and it's ridiculous"),
        ("caller", "i've called three times and nobody helps me this is ridiculous"),
        ("receptionist", "that's how our billing works"),
        ("caller", "you people are ridiculous"),
    ])
    assert call["flagged"]
    assert len(call["follow_ups"]) == 1
    item = call["follow_ups"][0]
    assert item["kind"] == "decide" and item["due_at"] is None
    assert item["due_text"] == "no due date was said"
    assert call["summary"][-1]["text"].startswith("Ended: the caller hung up mid-complaint")


def test_a_promise_without_time_words_has_no_due_date(app) -> None:  # noqa: ANN001
    call = run_call(app, "CA-notime", [
        GREETING,
        ("caller", "hi my name is pat my statement looks wrong"),
        ("receptionist", "i'll look into it and call you back"),
        ("caller", "thanks bye"),
    ])
    (item,) = call["follow_ups"]
    assert item["kind"] == "promise" and item["due_at"] is None
    assert item["due_text"] == "no due date was said"
    assert "no due date said" not in item["what"]


def test_a_calm_booking_is_not_flagged_and_files_at_most_a_check(app) -> None:  # noqa: ANN001
    call = run_call(app, "CA-calm", [
        GREETING,
        ("caller", "hi this is sam i'd like to book a checkup with doctor patel"),
        ("receptionist", "sure you're booked for tuesday at ten"),
        ("caller", "perfect thank you bye"),
    ])
    assert not call["flagged"]
    assert all(f["kind"] == "decide" for f in call["follow_ups"]) and len(call["follow_ups"]) <= 1
    assert call["summary"][-1]["text"] == "Ended: calm."


def test_a_caller_request_nobody_promised_becomes_an_item(app) -> None:  # noqa: ANN001
    call = run_call(app, "CA-ask", [
        GREETING,
        ("caller", "my name is dana could you please have the doctor call me about my results"),
        ("receptionist", "the doctor is with patients today"),
        ("caller", "okay bye"),
    ])
    kinds = [f["kind"] for f in call["follow_ups"]]
    assert kinds == ["request"], call["follow_ups"]
    assert "asked" in [line["kind"] for line in call["summary"]]


def test_a_repeat_caller_sees_the_open_promise_and_previous_call(app) -> None:  # noqa: ANN001
    run_call(app, "CA-first", CALLS["billing"])
    second = run_call(app, "CA-second", CALLS["billing"][:3], start="2026-12-05T15:00:00+00:00")
    history = second["history"]
    assert [c["call_sid"] for c in history["previous_calls"]] == ["CA-first"]
    first = history["previous_calls"][0]
    assert first["topic"] == "billing" and first["flagged"] in (True, False)
    assert set(first) >= {"call_sid", "started_at", "topic", "peak_level", "flagged"}
    assert any(f["call_sid"] == "CA-first" and f["kind"] == "promise"
               for f in history["open_follow_ups"])
