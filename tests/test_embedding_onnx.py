"""The shared encoder on ONNX Runtime: same vectors as torch, one pass per utterance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from voice.coach.playbook import Topic
from voice.coach.topics import TopicMatcher
from voice.embedding import MAX_LENGTH, OnnxSentenceEncoder, SentenceEncoder, load_encoder
from voice.events import Utterance
from voice.frustration import CallFrustration, MiniLMHeadScorer

TEXTS = [
    "Hi, I'd like to book a checkup for next Tuesday morning.",
    "This is the third time I've called about my refill and nobody called me back!",
    "Okay.",
    "",
    "I can't stand horror films, " * 30,  # past the 64-token cut
]


@pytest.fixture(scope="module")
def onnx() -> OnnxSentenceEncoder:
    encoder = load_encoder()
    assert isinstance(encoder, OnnxSentenceEncoder)
    return encoder


def test_onnx_fp32_vectors_equal_the_torch_reference(onnx):
    reference = SentenceEncoder(onnx.model_dir, max_length=MAX_LENGTH)
    fp32 = OnnxSentenceEncoder(onnx.model_dir, int8=False)
    got, want = fp32.encode(TEXTS), reference.encode(TEXTS)
    assert got.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    assert np.min(np.sum(got * want, axis=1)) > 0.9999


def test_a_text_alone_and_in_a_batch_embed_alike(onnx):
    fp32 = OnnxSentenceEncoder(onnx.model_dir, int8=False)
    alone = np.vstack([fp32.encode([t]) for t in TEXTS])
    assert np.min(np.sum(alone * fp32.encode(TEXTS), axis=1)) > 0.9999


def test_frustration_and_topic_matcher_share_one_encoder_pass(onnx):
    head = MiniLMHeadScorer(encoder=onnx)
    matcher = TopicMatcher(encoder=onnx)
    topics = [Topic(id="refill", label="your refill", phrase="a refill", keywords=(),
                    examples=("I need a refill of my prescription",))]
    matcher.match("warm the example vectors", topics)
    call = CallFrustration("CA1", head)
    text = "I still need that refill of my prescription, please (shared-pass test)"
    passes, reused = onnx.recent.passes, onnx.recent.reused
    call.observe(Utterance("CA1", "caller", text, 0.0, 2.0, True))
    match = matcher.match(text, topics)
    assert onnx.recent.passes - passes == 1  # the utterance went through the encoder once
    assert onnx.recent.reused - reused == 1  # the second stage took the same vector
    assert match is not None and match.topic_id == "refill"


def test_reused_vectors_cannot_be_changed_by_a_caller(onnx):
    first = onnx.encode(["a text someone edits in place"])
    first[:] = 0.0
    again = onnx.encode(["a text someone edits in place"])
    assert np.linalg.norm(again) == pytest.approx(1.0, abs=1e-4)


def test_default_int8_encoder_is_close_to_fp32_and_does_not_depend_on_the_batch(onnx):
    assert onnx.int8 and onnx.tag.endswith("-int8-7bit")
    fp32 = OnnxSentenceEncoder(onnx.model_dir, int8=False)
    batched = onnx.encode(TEXTS)
    assert np.min(np.sum(batched * fp32.encode(TEXTS), axis=1)) > 0.95
    alone = np.vstack([onnx.encode([t + " (alone)"]) for t in TEXTS])
    again = onnx.encode([t + " (alone)" for t in TEXTS])
    np.testing.assert_allclose(alone, again, atol=1e-6)


RECORDED = Path(__file__).parent / "fixtures" / "head_scores.json"


def test_default_scorer_loads_offline_and_scores_the_fixed_set_as_recorded(onnx, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    scorer = MiniLMHeadScorer(encoder=onnx)
    for row in json.loads(RECORDED.read_text()):
        assert scorer.score([row["text"]])[0] == pytest.approx(row["score"], abs=0.02), row
