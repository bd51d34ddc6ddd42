"""Shipped demo scenarios load; broken scenario files fail with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice.scenarios.script import ScenarioError, load_scenario, shipped_scenarios

GOOD = """title: Test call
caller: "+15550100000"
turns:
  - {speaker: caller, at: 1, text: Hello}
  - {speaker: receptionist, at: 2.5, text: Hi there, loudness: -20}
"""


def test_shipped_scenarios_load():
    names = {p.stem for p in shipped_scenarios()}
    assert names >= {"calm_booking", "billing_dispute", "kept_waiting", "insurance_problem"}
    for path in shipped_scenarios():
        scenario = load_scenario(path)
        assert 10 <= len(scenario.turns) <= 20, path.name
        assert {t.speaker for t in scenario.turns} == {"caller", "receptionist"}
        assert scenario.caller.startswith("+")


def test_good_file(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(GOOD)
    scenario = load_scenario(path)
    assert scenario.title == "Test call" and scenario.desk is None
    assert scenario.caller == "+15550100000"  # kept as written, not read as a number
    assert scenario.turns[1].loudness == -20.0 and scenario.turns[0].loudness is None
    assert scenario.duration_s == 2.5


def error_for(tmp_path: Path, text: str) -> ScenarioError:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return info.value


@pytest.mark.parametrize(
    ("old", "new", "turn", "field", "words"),
    [
        ("at: 2.5", "at: 0.5", 2, "at", "goes backwards"),
        ("speaker: caller", "speaker: doctor", 1, "speaker", "not caller or receptionist"),
        ("text: Hello}", "}", 1, "text", "missing"),
        ("at: 1,", "at: soon,", 1, "at", "must be a number"),
        ("loudness: -20", "loudness: 12", 2, "loudness", "dBFS"),
        ("loudness: -20", "volume: -20", 2, "volume", "unknown field"),
        ('"+15550100000"', "front desk", None, "caller", "not a phone number"),
        ("title: Test call", "title: ''", None, "title", "must not be empty"),
    ],
)
def test_broken_files_name_turn_and_field(tmp_path, old, new, turn, field, words):
    err = error_for(tmp_path, GOOD.replace(old, new))
    assert err.turn == turn and err.field == field and words in err.problem
    assert str(err).startswith(str(tmp_path / "s.yaml"))
    if turn:
        assert f"turn {turn}" in str(err)
    assert f"field '{field}'" in str(err)


def test_line_number_is_given(tmp_path):
    err = error_for(tmp_path, GOOD.replace("at: 2.5", "at: 0.5"))
    assert err.line == 5 and ":5: turn 2: field 'at'" in str(err)


def test_no_turns(tmp_path):
    err = error_for(tmp_path, 'title: x\ncaller: "+15550100000"\nturns: []\n')
    assert err.field == "turns"


def test_not_yaml(tmp_path):
    err = error_for(tmp_path, "title: [oops\n")
    assert "not valid YAML" in str(err)
