"""The shipped playbook loads; broken files fail with file and line; live reload."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from voice.coach import PlaybookError, PlaybookWatcher, load_playbook
from voice.coach.slots import TemplateError, parse_template

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"

GOOD = """
stages:
  - id: empathize
    title: Empathize
    covered_by: ['\\bsorry\\b']
prompts:
  - id: empathize
    kind: empathize
    stage: empathize
    when: {level_at_least: tense}
    text: '"[{first_name}, ]I understand."'
    why: Feelings first.
"""


def write(folder: Path, text: str, name: str = "p.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> PlaybookError:
    write(tmp_path, text)
    with pytest.raises(PlaybookError) as info:
        load_playbook(tmp_path)
    return info.value


def test_shipped_playbook_loads_and_covers_the_issue():
    pb = load_playbook(PROMPTS)
    assert [s.id for s in pb.stages] == [
        "calm_name",
        "listen",
        "empathize",
        "confirm_details",
        "own_it",
        "next_step",
        "agree",
        "close",
    ]
    topics = {t.id for t in pb.topics}
    assert topics >= {
        "billing",
        "insurance",
        "waiting",
        "rescheduled",
        "results_callback",
        "refills",
    }
    kinds = {p.kind for p in pb.prompts}
    assert kinds >= {"empathize", "confirm", "next_step", "coach", "close"}
    for topic in topics:
        assert any(topic in p.when.topics for p in pb.prompts), topic
    assert all(p.why and p.text.source for p in pb.prompts)
    assert all(t.examples for t in pb.topics)


@pytest.mark.parametrize("path", sorted(PROMPTS.glob("*.yaml")), ids=lambda p: p.name)
def test_each_shipped_file_loads(tmp_path, path):
    shutil.copy(PROMPTS / "stages.yaml", tmp_path / "stages.yaml")
    shutil.copy(path, tmp_path / path.name)
    if path.name == "topics.yaml" or path.name == "stages.yaml":
        shutil.copy(PROMPTS / "topics.yaml", tmp_path / "topics.yaml")
    assert load_playbook(tmp_path).prompts


def test_empty_slots_read_naturally():
    pb = load_playbook(PROMPTS)
    for spec in pb.prompts:
        text = spec.text.render({"caller_name": "", "first_name": "", "topic": ""})
        if spec.text.slots - {"topic"} and spec.when.name_known is None:
            assert "{" not in text and " ," not in text and '"," ' not in text, spec.id
            assert not text.startswith(","), spec.id


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    err = error_for(tmp_path, "prompts:\n  - id: a\n    kind: [coach\n")
    assert err.file.endswith("p.yaml") and err.line >= 3
    assert "not valid YAML" in str(err)


def test_unknown_kind_names_line(tmp_path):
    err = error_for(tmp_path, GOOD.replace("kind: empathize", "kind: hug"))
    assert err.line == 8
    assert "kind" in err.problem and "hug" in err.problem
    assert str(err).startswith(str(tmp_path / "p.yaml") + ":8:")


def test_missing_why(tmp_path):
    text = GOOD.replace("    why: Feelings first.\n", "")
    err = error_for(tmp_path, text)
    assert err.line == 7 and "missing 'why'" in err.problem


def test_unknown_condition_key(tmp_path):
    err = error_for(tmp_path, GOOD.replace("level_at_least: tense", "levle: tense"))
    assert err.line == 10 and "unknown key 'levle'" in err.problem


def test_bad_level(tmp_path):
    err = error_for(tmp_path, GOOD.replace("level_at_least: tense", "level_at_least: furious"))
    assert "furious" in err.problem and err.line == 10


def test_unknown_stage_reference(tmp_path):
    err = error_for(tmp_path, GOOD.replace("stage: empathize", "stage: hug"))
    assert "unknown stage 'hug'" in err.problem and err.line == 7


def test_bad_regex(tmp_path):
    err = error_for(tmp_path, GOOD.replace("'\\bsorry\\b'", "'(sorry'"))
    assert err.line == 5 and "bad pattern" in err.problem


def test_slot_that_may_be_empty_must_be_optional(tmp_path):
    err = error_for(tmp_path, GOOD.replace("[{first_name}, ]", "{first_name}, "))
    assert err.line == 11 and "may be empty" in err.problem


def test_unknown_slot(tmp_path):
    err = error_for(tmp_path, GOOD.replace("[{first_name}, ]", "[{nickname}, ]"))
    assert "unknown slot {nickname}" in err.problem


def test_stage_prompt_on_a_calm_call_is_rejected(tmp_path):
    err = error_for(tmp_path, GOOD.replace("level_at_least: tense", "level_at_least: calm"))
    assert "calm call" in err.problem and err.line == 7


def test_duplicate_prompt_id_across_files(tmp_path):
    write(tmp_path, GOOD, "a.yaml")
    extra = "prompts:\n  - id: empathize\n    kind: coach\n    text: Hi.\n    why: x\n"
    write(tmp_path, extra, "b.yaml")
    with pytest.raises(PlaybookError) as info:
        load_playbook(tmp_path)
    assert info.value.file.endswith("b.yaml") and info.value.line == 2
    assert "a.yaml:7" in info.value.problem


def test_empty_folder(tmp_path):
    with pytest.raises(PlaybookError, match="no playbook files"):
        load_playbook(tmp_path)


def test_template_rendering():
    t = parse_template('Say: "[{first_name}, ]let me help[, {first_name}]."')
    assert t.render({"first_name": "Mary"}) == 'Say: "Mary, let me help, Mary."'
    assert t.render({}) == 'Say: "Let me help."'
    with pytest.raises(TemplateError):
        parse_template("[{first_name}")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def touch_later(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_watcher_reloads_on_change(tmp_path):
    path = write(tmp_path, GOOD)
    clock = Clock()
    watcher = PlaybookWatcher(tmp_path, interval_s=1.0, clock=clock)
    assert watcher.current().prompts[0].why == "Feelings first."
    touch_later(path, GOOD.replace("Feelings first.", "Heart before facts."))
    assert watcher.current().prompts[0].why == "Feelings first."  # throttled
    clock.now = 1.5
    assert watcher.current().prompts[0].why == "Heart before facts."


def test_watcher_keeps_last_good_on_bad_edit(tmp_path, caplog):
    path = write(tmp_path, GOOD)
    clock = Clock()
    watcher = PlaybookWatcher(tmp_path, interval_s=0.5, clock=clock)
    good = watcher.current()
    touch_later(path, GOOD.replace("kind: empathize", "kind: hug"))
    clock.now = 1.0
    with caplog.at_level(logging.ERROR):
        assert watcher.current() is good
    assert watcher.last_error is not None and watcher.last_error.line == 8
    assert "p.yaml:8" in caplog.text
    touch_later(path, GOOD.replace("Feelings first.", "Fixed."))
    clock.now = 2.0
    assert watcher.current().prompts[0].why == "Fixed."
    assert watcher.last_error is None


def test_watcher_fails_fast_on_a_bad_start(tmp_path):
    write(tmp_path, GOOD.replace("kind: empathize", "kind: hug"))
    with pytest.raises(PlaybookError):
        PlaybookWatcher(tmp_path)


def test_urgency_path_naming_an_unknown_stage_names_the_line(tmp_path):
    err = error_for(tmp_path, GOOD + "urgency:\n  path: [empathize, apologise]\n")
    assert err.line == 14 and "unknown stage 'apologise'" in err.problem


def test_urgency_at_calm_is_refused(tmp_path):
    err = error_for(tmp_path, GOOD + "urgency:\n  level_at_least: calm\n")
    assert "must be above calm" in err.problem


def test_old_pacing_keys_are_refused_with_the_new_ones_named(tmp_path):
    err = error_for(tmp_path, GOOD + "pacing:\n  stage_gap_s: 8\n")
    assert "unknown key 'stage_gap_s'" in err.problem and "urgent_gap_s" in err.problem


def test_shipped_pacing_and_urgency_are_stated_in_the_playbook():
    pb = load_playbook(PROMPTS)
    assert pb.pacing.max_cards <= 4 and pb.pacing.window_s == 60
    assert pb.urgency.path[0] == "empathize" and pb.urgency.asks_next_step
    assert any(p.search("So what are you going to do about it?") for p in pb.urgency.asks_next_step)
