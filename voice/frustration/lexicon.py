"""Lexicon sentiment features for the frustration head: VADER's neg, neu, pos and compound.

This module owns the four numbers per text that a head fitted with ``"features":
["minilm", "vader"]`` reads after the sentence embedding (``vaderSentiment``, MIT,
a rule-based sentiment lexicon; pure Python, about 0.1 ms a text). Word-level
valence is what a frozen sentence encoder blurs: "unacceptable", "ridiculous",
"never called back" move these numbers directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

FEATURE_NAME = "vader"
FEATURES_PER_TEXT = 4


@cache
def _analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def lexicon_features(texts: Sequence[str]) -> np.ndarray:
    """(len(texts), 4) float32: VADER's neg, neu, pos, compound for each text."""
    analyzer = _analyzer()
    out = np.zeros((len(texts), FEATURES_PER_TEXT), dtype=np.float32)
    for row, text in enumerate(texts):
        scores = analyzer.polarity_scores(text)
        out[row] = (scores["neg"], scores["neu"], scores["pos"], scores["compound"])
    return out
