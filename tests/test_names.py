"""Caller names from Vosk-style openings: the written set's precision and recall hold."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from voice.names import find_name, receptionist_name

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from caller_names import SETS, evaluate  # noqa: E402


def test_written_openings_keep_their_precision_and_recall() -> None:
    result = evaluate(SETS["written"])
    assert result["openings"] >= 60
    assert result["precision"] >= 0.95 and result["recall"] >= 0.95, result


def test_held_out_openings_stay_useful() -> None:
    result = evaluate(SETS["held-out"])
    assert result["precision"] >= 0.9 and result["recall"] >= 0.8, result


@pytest.mark.parametrize(
    ("text", "name", "on_behalf"),
    [
        ("hi this is robert alvarez i got a statement", "Robert Alvarez", False),
        ("Hi, this is Robert Alvarez. I got a statement…", "Robert Alvarez", False),
        ("i'm calling for my mother ana ruiz", "Ana Ruiz", True),
        ("my name is ana r u i z", "Ana Ruiz", False),
        ("this is ridiculous", None, False),
    ],
)
def test_ways_people_give_a_name(text: str, name: str | None, on_behalf: bool) -> None:
    found = find_name(text)
    assert (found.name if found else None) == name
    if found:
        assert found.on_behalf is on_behalf


def test_receptionist_greeting_gives_her_name() -> None:
    assert receptionist_name("Maple Street Family Practice, this is Jenny, how can I help?") \
        == "Jenny"
    assert receptionist_name("front desk how can i help") is None
