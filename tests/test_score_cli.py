import json
from collections.abc import Sequence

import pytest
from click.testing import CliRunner

import voice.frustration.cli as cli
from voice.frustration.cli import score_command
from voice.frustration.model import ScorerLoadError


class KeywordScorer:
    name = "keyword"

    def score(self, texts: Sequence[str]) -> list[float]:
        return [0.95 if "ridiculous" in t.lower() else 0.05 for t in texts]


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.setattr(cli, "load_scorer", lambda *a, **kw: KeywordScorer())
    return CliRunner()


DIALOGUE = {
    "id": "d1",
    "turns": [
        {"speaker": "receptionist", "text": "Front desk, how can I help?"},
        {"speaker": "caller", "text": "I need a refill please."},
        {"speaker": "receptionist", "text": "I can send it to the doctor."},
        {"speaker": "caller", "text": "This is ridiculous, the third time I've called!"},
    ],
}


def _write(tmp_path, lines):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_dialogue_output_has_one_entry_per_turn_in_the_documented_shape(runner, tmp_path):
    path = _write(tmp_path, [json.dumps(DIALOGUE)])
    result = runner.invoke(score_command, ["--dialogues", str(path)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip())
    assert out["id"] == "d1" and len(out["turns"]) == 4
    for turn in out["turns"]:
        assert set(turn) == {"frustration", "level", "rising", "reasons"}
        assert turn["level"] in ("calm", "tense", "upset", "escalating")
        assert isinstance(turn["rising"], bool)
    receptionist, calm, _, angry = out["turns"]
    assert (calm["level"], calm["rising"]) == ("calm", False)
    assert angry["level"] != "calm" and angry["rising"] is True  # from calm to angry: rising
    assert receptionist["frustration"] is None and receptionist["reasons"] == []
    assert 0.0 <= calm["frustration"] < angry["frustration"] <= 1.0
    assert any("third time" in r for r in angry["reasons"])


def test_receptionist_turn_carries_the_level_as_it_stands(runner, tmp_path):
    dialogue = {"id": 7, "turns": [
        {"speaker": "caller", "text": "This is ridiculous!"},
        {"speaker": "receptionist", "text": "I'm sorry to hear that."},
    ]}
    path = _write(tmp_path, [json.dumps(dialogue)])
    result = runner.invoke(score_command, ["--dialogues", str(path)])
    out = json.loads(result.stdout.strip())
    assert out["id"] == "7"
    assert out["turns"][1]["level"] == out["turns"][0]["level"]


def test_caller_first_dialogue_with_empty_turns_keeps_the_output_contract(runner, tmp_path):
    dialogue = {"id": "e", "turns": [
        {"speaker": "caller", "text": ""},
        {"speaker": "caller", "text": "This is ridiculous, third time I've called!"},
        {"speaker": "receptionist", "text": ""},
        {"speaker": "caller", "text": "   "},
    ]}
    path = _write(tmp_path, [json.dumps(dialogue)])
    result = runner.invoke(score_command, ["--dialogues", str(path)])
    assert result.exit_code == 0, result.output
    turns = json.loads(result.stdout.strip())["turns"]
    assert len(turns) == 4
    assert all(set(t) == {"frustration", "level", "rising", "reasons"} for t in turns)
    assert turns[0] == {"frustration": None, "level": "calm", "rising": False, "reasons": []}
    assert turns[1]["frustration"] > 0.5
    assert turns[2]["frustration"] is None and turns[3]["frustration"] is None
    assert turns[3]["level"] == turns[1]["level"]


def test_malformed_lines_are_reported_by_number_and_the_rest_scored(runner, tmp_path):
    good = json.dumps(DIALOGUE)
    bad_speaker = json.dumps({"id": "x", "turns": [{"speaker": "doctor", "text": "hi"}]})
    path = _write(tmp_path, [good, "{not json", bad_speaker, json.dumps({"turns": []}), good])
    out_path = tmp_path / "out.jsonl"
    result = runner.invoke(score_command, ["--dialogues", str(path), "--out", str(out_path)])
    assert result.exit_code == 0
    assert "line 2: not valid JSON" in result.stderr
    assert "line 3: turn 1: 'speaker' must be" in result.stderr
    assert "line 4: 'id'" in result.stderr
    assert "scored 2 dialogues, skipped 3" in result.stderr
    lines = out_path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["d1", "d1"]


def test_single_text_is_scored_as_one_caller_utterance(runner):
    result = runner.invoke(score_command, ["This is ridiculous"])
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["text"] == "This is ridiculous"
    assert out["frustration"] > 0.5
    assert "negative wording 0.95" in out["reasons"]


def test_text_and_dialogues_together_or_neither_is_a_usage_error(runner, tmp_path):
    path = _write(tmp_path, [json.dumps(DIALOGUE)])
    assert runner.invoke(score_command, []).exit_code == 2
    assert runner.invoke(score_command, ["hi", "--dialogues", str(path)]).exit_code == 2


def test_unloadable_model_fails_naming_the_variable(monkeypatch):
    def broken(*args, **kwargs):
        raise ScorerLoadError("VOICE_SENTIMENT_MODEL='nope' could not be loaded")

    monkeypatch.setattr(cli, "load_scorer", broken)
    result = CliRunner().invoke(score_command, ["hello"])
    assert result.exit_code == 1
    assert "VOICE_SENTIMENT_MODEL" in result.stderr
