import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

import voice.frustration.cli as cli
from voice.frustration.cli import score_command
from voice.frustration.evaluate import evaluate, read_labelled

FIXTURE = Path(__file__).parent / "fixtures" / "eval_dialogues.jsonl"


class KeywordScorer:
    """0.95 for any text saying 'ridiculous', 0.05 otherwise."""

    name = "keyword"

    def score(self, texts: Sequence[str]) -> list[float]:
        return [0.95 if "ridiculous" in t.lower() else 0.05 for t in texts]


def _items():
    return list(read_labelled(FIXTURE.open()))


def test_fixture_dialogues_are_sorted_into_turned_calm_and_starting_frustrated():
    kinds = {i.dialogue.id: i.kind for i in _items()}
    assert kinds == {"turns-caught": "turns", "turns-missed": "turns", "calm-quiet": "calm",
                     "calm-false-alarm": "calm", "starts-frustrated": "starts"}


def test_eval_counts_caught_missed_and_calm_false_alarms_on_the_fixture():
    report = evaluate(_items(), KeywordScorer())
    # Labelled caller turns with text: 3 frustrated, 9 calm.  Scores: the frustrated
    # 'ridiculous' turn with a repeat-call cue beats all 9 calm ones; the other
    # 'ridiculous' one ties the 3 calm 'ridiculous' turns and beats 6; the frustrated
    # turn without the word ties 6 and loses to 3: (9 + 7.5 + 3) / 27.
    assert report.turns_labelled == 12 and report.turns_frustrated == 3
    assert report.turn_auc == pytest.approx(19.5 / 27)
    assert (report.turned, report.caught) == (2, 1)
    assert (report.calm, report.calm_ever_upset) == (2, 1)
    assert report.starts_frustrated == 1
    assert report.caught_share == 0.5 and report.calm_upset_share == 0.5


def test_an_alarm_that_died_down_before_the_frustrated_turn_is_not_a_catch():
    line = json.dumps({"id": "early", "turns": [
        {"speaker": "caller", "text": "ridiculous ridiculous", "frustrated": False},
        {"speaker": "caller", "text": "ridiculous again", "frustrated": False},
        *[{"speaker": "caller", "text": f"calm {i}", "frustrated": False} for i in range(12)],
        {"speaker": "caller", "text": "quietly furious", "frustrated": True},
        {"speaker": "caller", "text": "still quiet", "frustrated": True},
    ]})
    report = evaluate(list(read_labelled([line])), KeywordScorer())
    assert (report.turned, report.caught) == (1, 0)


def test_bad_label_is_refused_with_its_line_number():
    lines = [FIXTURE.read_text().splitlines()[0],
             json.dumps({"id": "x", "turns": [{"speaker": "caller", "text": "hi",
                                               "frustrated": "yes"}]})]
    with pytest.raises(ValueError, match="line 2: turn 1"):
        list(read_labelled(lines))


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.setattr(cli, "load_scorer", lambda *a, **kw: KeywordScorer())
    return CliRunner()


def test_voice_score_eval_prints_the_known_figures(runner):
    result = runner.invoke(score_command, ["--eval", str(FIXTURE)])
    assert result.exit_code == 0, result.output
    assert "per-turn AUC                         0.722" in result.output
    assert "caught in 1 turn  1/2 (50.0%)" in result.output
    assert "calm, ever upset                     1/2 (50.0%)" in result.output


def test_voice_score_eval_json_has_every_figure(runner):
    result = runner.invoke(score_command, ["--eval", str(FIXTURE), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["turn_auc"] == pytest.approx(0.7222, abs=1e-4)
    assert (figures["caught"], figures["turned"]) == (1, 2)
    assert (figures["calm_ever_upset"], figures["calm"]) == (1, 2)
    assert figures["scorer"] == "keyword"


def test_voice_score_eval_on_a_malformed_file_is_a_clear_error(runner, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "turns": []}\nnot json\n')
    result = runner.invoke(score_command, ["--eval", str(bad)])
    assert result.exit_code != 0
    assert "line 2" in result.output


def test_eval_together_with_dialogues_is_a_usage_error(runner):
    result = runner.invoke(score_command, ["--eval", str(FIXTURE), "--dialogues",
                                           str(FIXTURE)])
    assert result.exit_code == 2
