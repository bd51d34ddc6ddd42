"""Promise detection on the receptionist's words and due dates resolved with dateparser."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from voice.records.promises import find_commitments, resolve_due

TZ = "America/Chicago"
START = datetime(2026, 12, 3, 16, 15, tzinfo=UTC)  # Thursday 10:15 in Chicago


@dataclass
class U:
    speaker: str
    text: str
    t_start: float


def local(phrase: str) -> datetime | None:
    due = resolve_due(phrase, START, TZ)
    return due.astimezone(ZoneInfo(TZ)).replace(tzinfo=None) if due else None


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("tomorrow before noon", datetime(2026, 12, 4, 12, 0)),
        ("by friday", datetime(2026, 12, 4, 17, 0)),
        ("this afternoon", datetime(2026, 12, 3, 17, 0)),
        ("next week", datetime(2026, 12, 11, 17, 0)),
        ("in an hour", datetime(2026, 12, 3, 11, 15)),
        ("on the 12th", datetime(2026, 12, 12, 17, 0)),
        ("on the twelfth", datetime(2026, 12, 12, 17, 0)),
        ("on the 2nd", datetime(2027, 1, 2, 17, 0)),
        ("tomorrow at three", datetime(2026, 12, 4, 15, 0)),
        ("by end of day", datetime(2026, 12, 3, 17, 0)),
        ("monday morning", datetime(2026, 12, 7, 12, 0)),
        ("in two hours", datetime(2026, 12, 3, 12, 15)),
    ],
)
def test_time_words_resolve_against_the_call_start_in_the_office_zone(
        phrase: str, expected: datetime) -> None:
    assert local(phrase) == expected


def test_no_time_words_give_no_due_date() -> None:
    assert resolve_due(None, START, TZ) is None
    assert resolve_due("whenever", START, TZ) is None


@pytest.mark.parametrize(
    "text",
    [
        "i'll call you back tomorrow",
        "let me check with billing and get back to you by friday",
        "we'll send the refill request this afternoon",
        "i'll have the doctor look at your results",
        "I'll call you back by Thursday with what I find.",
    ],
)
def test_the_issues_commitments_are_found(text: str) -> None:
    (c,) = find_commitments([U("receptionist", text, 3.0)])
    assert c.kind == "promise" and c.utterance == 0


@pytest.mark.parametrize(
    "text",
    [
        "okay let me pull that up",
        "authorizations are between you and your insurance you'll have to call them",
        "is there anything else i can help you with today",
        "i'll transfer you now",
        "can i get your date of birth",
    ],
)
def test_in_call_actions_and_deflections_are_not_promises(text: str) -> None:
    assert find_commitments([U("receptionist", text, 3.0)]) == []


def test_the_callers_words_are_never_the_offices_promise() -> None:
    assert find_commitments([U("caller", "i'll call you back tomorrow", 1.0)]) == []


def test_an_undated_promise_joins_the_dated_one_right_after_it() -> None:
    (c,) = find_commitments([
        U("receptionist", "i'll take care of it", 10.0),
        U("receptionist", "once it's approved i'll call you back today to confirm", 20.0),
    ])
    assert c.utterance == 1 and c.due_phrase == "today"
    assert c.action == "take care of it; call them back today to confirm"


def test_a_request_answered_by_a_later_promise_is_not_open() -> None:
    said = [U("caller", "can someone call me back about this", 1.0),
            U("receptionist", "i'll call you back this afternoon", 5.0)]
    assert [c.kind for c in find_commitments(said)] == ["promise"]
    assert [c.kind for c in find_commitments(said[:1])] == ["request"]
