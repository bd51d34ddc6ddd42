"""The head's lexicon features (VADER) and the XED subtitle training data."""

import numpy as np
import pytest

from voice.frustration.lexicon import FEATURES_PER_TEXT, lexicon_features
from voice.frustration.model import Head
from voice.frustration.training import XED_DIR, xed_rows


def test_lexicon_features_read_an_angry_sentence_as_negative_and_a_thankful_one_as_positive():
    angry, thankful, empty = lexicon_features(
        ["This is ridiculous and completely unacceptable.", "Thank you, that is great.", ""])
    neg, _, pos, compound = range(FEATURES_PER_TEXT)
    assert angry[neg] > 0.3 and angry[compound] < -0.3
    assert thankful[pos] > 0.3 and thankful[compound] > 0.3
    assert empty.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_a_head_fitted_with_lexicon_features_reads_them_after_the_embedding():
    embedding_dim = 3
    w = np.zeros((embedding_dim + FEATURES_PER_TEXT, 1), dtype=np.float32)
    w[embedding_dim + 3, 0] = -4.0  # only VADER's compound: negative words raise the score
    head = Head(layers=((w, np.zeros(1, dtype=np.float32)),),
                meta={"features": ["minilm", "vader"]})
    plain = Head(layers=((w[:embedding_dim], np.zeros(1, dtype=np.float32)),))
    texts = ["This is ridiculous and unacceptable.", "Thank you so much, wonderful."]
    x = np.zeros((2, embedding_dim), dtype=np.float32)
    assert head.reads_lexicon and not plain.reads_lexicon
    assert head.inputs(texts, x).shape == (2, embedding_dim + FEATURES_PER_TEXT)
    assert plain.inputs(texts, x) is x
    angry, thankful = head.predict(head.inputs(texts, x))
    assert angry > 0.8 > 0.2 > thankful


def test_xed_rows_are_untokenised_labelled_and_split_without_overlap():
    train, dev = xed_rows("train"), xed_rows("dev")
    assert (XED_DIR / "README.md").read_text().count("CC BY 4.0") >= 1
    assert 0.08 < len(dev) / (len(train) + len(dev)) < 0.12
    assert not {r["text"] for r in train} & {r["text"] for r in dev}
    for rows in (train, dev):
        angry = [r for r in rows if r["frustrated"]]
        assert all("anger" in r["labels"] for r in angry)
        assert 0.10 < len(angry) / len(rows) < 0.2
        assert any(r["labels"] == [] for r in rows)  # the neutral lines
    texts = [r["text"] for r in train + dev]
    assert not [t for t in texts if " ." in t or " ," in t or " ?" in t or t != t.strip()]
    assert "A traitor!" in texts


@pytest.mark.parametrize("split", ["train", "dev", None])
def test_xed_rows_of_a_split_are_stable_between_reads(split):
    assert xed_rows(split) == xed_rows(split)
