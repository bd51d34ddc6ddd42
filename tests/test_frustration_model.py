import numpy as np
import pytest

from voice.frustration.model import (
    Head,
    HFClassifierScorer,
    MiniLMHeadScorer,
    ScorerLoadError,
    frustration_from_probs,
    label_weight,
    load_head,
    load_scorer,
    save_head,
)


def test_negative_sentiment_labels_map_to_frustration_and_positive_do_not():
    assert label_weight("NEGATIVE") == 1.0
    assert label_weight("anger") == 1.0
    assert label_weight("POSITIVE") == 0.0
    assert label_weight("neutral") == 0.0
    assert frustration_from_probs({"NEGATIVE": 0.8, "POSITIVE": 0.2}) == pytest.approx(0.8)


def test_emotion_labels_add_up_without_passing_one():
    single = frustration_from_probs({"anger": 0.5, "annoyance": 0.3, "joy": 0.2})
    assert single == pytest.approx(0.8)
    multi = frustration_from_probs({"anger": 0.9, "annoyance": 0.9, "joy": 0.9}, multi_label=True)
    assert 0.9 < multi <= 1.0


def test_head_round_trips_through_npz_with_threshold_and_metadata(tmp_path):
    rng = np.random.default_rng(0)
    head = Head(layers=((rng.normal(size=(8, 4)).astype(np.float32), np.zeros(4, np.float32)),
                        (rng.normal(size=(4, 1)).astype(np.float32), np.zeros(1, np.float32))),
                threshold=0.42, meta={"trained": "today"})
    path = tmp_path / "head.npz"
    save_head(path, head)
    loaded = load_head(path)
    x = rng.normal(size=(3, 8)).astype(np.float32)
    assert np.allclose(loaded.predict(x), head.predict(x))
    assert loaded.threshold == pytest.approx(0.42) and loaded.meta == {"trained": "today"}


def test_missing_head_file_is_a_load_error_that_says_how_to_train(tmp_path):
    with pytest.raises(ScorerLoadError, match="train-frustration"):
        load_scorer(None, head_path=tmp_path / "none.npz")


def test_unknown_model_name_fails_naming_the_variable(tmp_path):
    with pytest.raises(ScorerLoadError, match="VOICE_SENTIMENT_MODEL"):
        load_scorer(str(tmp_path / "no-such-model"))


def _tiny_classifier(tmp_path, labels):
    """A tiny random BERT classifier saved locally with the MiniLM tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from voice.embedding import default_encoder_path

    tokenizer = AutoTokenizer.from_pretrained(str(default_encoder_path()), local_files_only=True)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32,
                        id2label=dict(enumerate(labels)),
                        label2id={v: i for i, v in enumerate(labels)})
    model = BertForSequenceClassification(config)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    return model, tokenizer


def test_any_local_sequence_classifier_gives_its_negative_probability(tmp_path):
    import torch

    model, tokenizer = _tiny_classifier(tmp_path, ["NEGATIVE", "POSITIVE"])
    scorer = load_scorer(str(tmp_path))
    assert isinstance(scorer, HFClassifierScorer)
    texts = ["this is ridiculous", "thank you so much"]
    with torch.inference_mode():
        logits = model.eval()(**tokenizer(texts, padding=True, return_tensors="pt")).logits
    expected = torch.softmax(logits, -1)[:, 0].tolist()
    assert scorer.score(texts) == pytest.approx(expected, abs=1e-5)


def test_classifier_without_any_negative_label_is_refused(tmp_path):
    _tiny_classifier(tmp_path, ["LABEL_0", "LABEL_1"])
    with pytest.raises(ScorerLoadError, match="VOICE_SENTIMENT_MODEL.*LABEL_0"):
        load_scorer(str(tmp_path))


FRUSTRATED = [
    "This is the third time I've called and nobody has called me back!",
    "I've been on hold for forty minutes, this is ridiculous.",
    "I want to speak to your manager right now.",
    "You charged me twice and I'm not paying it.",
]
CALM = [
    "Hi, I'd like to book a checkup for next Tuesday.",
    "Thank you so much, that's very helpful.",
    "Yes, my date of birth is May fourth.",
    "Could you send the refill to the pharmacy on Main Street?",
]


@pytest.mark.slow
def test_baseline_head_loads_offline_and_ranks_frustrated_above_calm(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    scorer = load_scorer("minilm-head")
    assert isinstance(scorer, MiniLMHeadScorer)
    angry, calm = scorer.score(FRUSTRATED), scorer.score(CALM)
    assert all(0.0 <= s <= 1.0 for s in angry + calm)
    assert min(angry) > max(calm)
    assert min(angry) >= scorer.threshold > max(calm)
