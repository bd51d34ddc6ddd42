"""The shipped fine-tuned model: its committed files load offline and score as recorded."""

import json
from pathlib import Path

import pytest

from voice.frustration.model import FINETUNED_SCORER_NAME, default_finetuned_dir, load_scorer
from voice.frustration.onnx_model import FineTunedScorer

RECORDED = Path(__file__).parent / "fixtures" / "finetuned_scores.json"
# The weights are quantized to 7 bits (voice.embedding.quantize_int8), so no u8 x s8 product
# saturates ONNX Runtime's AVX2 kernels and a score is the same with or without AVX-512 VNNI.
INT8_KERNEL_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def scorer():
    return load_scorer(FINETUNED_SCORER_NAME)


def test_minilm_finetuned_names_the_committed_fine_tuned_model(scorer):
    assert isinstance(scorer, FineTunedScorer)
    assert scorer.name == FINETUNED_SCORER_NAME
    assert Path(scorer.model_dir) == default_finetuned_dir()


def test_model_files_are_small_enough_for_git_and_the_card_names_its_data():
    folder = default_finetuned_dir()
    total = sum(f.stat().st_size for f in folder.iterdir())
    assert total < 40 * 2**20
    card = json.loads((folder / "card.json").read_text())
    assert card["data"]["train"] and card["data"]["reported"]
    assert card["metrics"]["goemotions_dev"]["auc"] > 0.8
    assert "XED" in " ".join(card["data"]["train"])
    assert card["trained"]


def test_loads_offline_and_scores_the_fixed_set_as_recorded(scorer, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recorded = json.loads(RECORDED.read_text())
    scores = [scorer.score([r["text"]])[0] for r in recorded]  # one at a time, as recorded
    for row, got in zip(recorded, scores, strict=True):
        assert got == pytest.approx(row["score"], abs=INT8_KERNEL_TOLERANCE), row["text"]


def test_frustrated_call_sentences_rank_above_calm_ones(scorer):
    recorded = json.loads(RECORDED.read_text())
    angry = [s for r, s in zip(recorded, scorer.score([r["text"] for r in recorded]),
                               strict=True) if r["frustrated"]]
    calm = [s for r, s in zip(recorded, scorer.score([r["text"] for r in recorded]),
                              strict=True) if not r["frustrated"]]
    assert min(angry) > max(calm)


def test_empty_and_long_texts_score_within_zero_and_one(scorer):
    long = "I have called about this bill again and again " * 40
    scores = scorer.score(["", "   ", long])
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_scores_do_not_depend_on_what_else_is_in_the_batch(scorer):
    text = "Nobody ever calls me back from this office."
    alone = scorer.score([text])[0]
    batched = scorer.score(["Okay.", text, "Could I book a physical for next month, please?"])[1]
    # int8 activations are quantized with one scale per run, so the scorer runs one text
    # at a time: a batch gives each text the score it has alone.
    assert alone == pytest.approx(batched, abs=1e-6)


def test_texts_are_scored_unpadded_whatever_the_packaged_tokenizer_pads_to(scorer):
    # the packaged tokenizer.json pads every text to 128 tokens; scored that way, the
    # first fine-tuned model's graph (exported through SDPA) attended to the padding
    folder_padding = json.loads((default_finetuned_dir() / "tokenizer.json").read_text())
    assert folder_padding["padding"] is not None
    assert len(scorer.tokenizer.encode("Okay.").ids) < 8


def test_the_model_card_carries_the_state_tuning_chosen_for_it_and_calls_use_it(scorer):
    from voice.frustration.state import CallFrustration, Tuning, tuning_for

    card = json.loads((default_finetuned_dir() / "card.json").read_text())
    assert card["state_tuning"], "tune_state.py --write-card records the state for this model"
    assert "tune_state.py" in card["state_tuning_source"]
    tuning = tuning_for(scorer)
    assert tuning != Tuning()
    assert list(tuning.enter) == list(card["state_tuning"].get("enter", Tuning().enter))
    assert CallFrustration("CA1", scorer).tuning == tuning


def test_a_card_with_a_bad_state_tuning_fails_at_load_and_the_service_says_why(tmp_path):
    import shutil

    from voice.config import Config
    from voice.loading import load_sentiment

    model = tmp_path / "model"
    shutil.copytree(default_finetuned_dir(), model)
    card = json.loads((model / "card.json").read_text())
    card["state_tuning"] = {"upset_at": 0.5}
    (model / "card.json").write_text(json.dumps(card))
    loaded = load_sentiment(Config.for_testing(load_sentiment_model=True,
                                               sentiment_model=str(model)))
    assert loaded.value is None
    assert "unknown field(s) upset_at" in loaded.status
