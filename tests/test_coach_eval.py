"""The coach evaluation's scripted calls: enough of them, every topic and kind of call,
and the engine meets the issue's goals on them (deterministic: call time, script levels)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import coach_eval  # noqa: E402

from voice.coach import TopicMatcher, load_playbook  # noqa: E402


@pytest.fixture(scope="module")
def results():
    playbook = load_playbook(ROOT / "prompts")
    matcher = TopicMatcher(encoder=None)
    calls = coach_eval.load_calls()
    return playbook, [coach_eval.run_call(c, playbook, matcher, coach_eval.scripted_levels)
                      for c in calls]


def test_at_least_24_calls_across_every_topic_and_kind_of_call(results):
    playbook, runs = results
    calls = [r.call for r in runs]
    assert len(calls) >= 24
    assert {c.group for c in calls} == set(coach_eval.GROUPS)
    assert {c.topic for c in calls if c.topic} == {t.id for t in playbook.topics}
    assert all(c.expect or c.calm for c in calls)


def test_the_engine_meets_the_goals_on_the_scripted_calls(results):
    playbook, runs = results
    figures = coach_eval.summarize(runs, playbook)
    assert figures["in_turn"] >= coach_eval.GOALS["in_turn"]
    assert figures["essentials"] >= coach_eval.GOALS["essentials"]
    assert figures["topic_step"] >= coach_eval.GOALS["topic_step"]
    assert figures["calm_cards"] == 0
    assert figures["max_per_minute"] <= coach_eval.GOALS["per_minute"]


def test_a_malformed_call_is_refused_with_its_id(tmp_path):
    bad = tmp_path / "calls.yaml"
    bad.write_text("calls:\n  - {id: oops, group: passive, topic: null,"
                   " turns: [[c, 1, furious, 'hi']]}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="call oops: level 'furious'"):
        coach_eval.load_calls(bad)
