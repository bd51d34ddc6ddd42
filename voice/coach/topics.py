"""Topic detection for the coach: what the caller is calling about.

A caller's utterance matches a playbook topic by keyword patterns (score 1.0) or,
failing that, by cosine similarity between its embedding and the topic's example
sentences (the shared MiniLM encoder from ``voice.embedding``).  The encoder is
injectable so unit tests can pass a fake; with none, matching is keywords only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from voice.coach.playbook import Topic

log = logging.getLogger(__name__)


class Encoder(Protocol):
    """Anything that embeds texts into unit vectors (``SentenceEncoder`` does)."""

    def encode(self, texts: list[str]) -> np.ndarray:
        """Return a ``(len(texts), dim)`` array of L2-normalised vectors."""
        ...


@dataclass(frozen=True)
class TopicMatch:
    """The best topic for one utterance and how it was found."""

    topic_id: str
    score: float
    method: str  # "keyword" or "similarity"


class TopicMatcher:
    """Matches text to playbook topics by keywords, then embedding similarity.

    ``encoder`` is an ``Encoder``, a zero-argument callable returning one (loaded on
    first use), or None for keywords only.  If loading fails the matcher logs it
    and carries on with keywords.
    """

    def __init__(
        self,
        encoder: Encoder | Callable[[], Encoder] | None = None,
        threshold: float = 0.5,
    ) -> None:
        self.threshold = threshold
        self._encoder_source = encoder
        self._encoder: Encoder | None = None
        self._lock = threading.Lock()
        self._examples: dict[tuple[str, ...], np.ndarray] = {}

    def match(self, text: str, topics: Sequence[Topic]) -> TopicMatch | None:
        """The best-matching topic for ``text``, or None if nothing is close enough."""
        if not text.strip() or not topics:
            return None
        hits = [(sum(bool(p.search(text)) for p in t.keywords), t.id) for t in topics]
        best_hits, best_id = max(hits, key=lambda h: h[0])  # first topic wins a tie
        if best_hits:
            return TopicMatch(best_id, 1.0, "keyword")
        return self._similar(text, topics)

    def _similar(self, text: str, topics: Sequence[Topic]) -> TopicMatch | None:
        encoder = self._get_encoder()
        with_examples = [t for t in topics if t.examples]
        if encoder is None or not with_examples:
            return None
        query = encoder.encode([text])[0]
        best: TopicMatch | None = None
        for topic in with_examples:
            score = float(np.max(self._example_vectors(encoder, topic.examples) @ query))
            if score >= self.threshold and (best is None or score > best.score):
                best = TopicMatch(topic.id, score, "similarity")
        return best

    def _example_vectors(self, encoder: Encoder, examples: tuple[str, ...]) -> np.ndarray:
        with self._lock:
            vectors = self._examples.get(examples)
            if vectors is None:
                vectors = np.asarray(encoder.encode(list(examples)), dtype=np.float32)
                self._examples[examples] = vectors
            return vectors

    def _get_encoder(self) -> Encoder | None:
        source = self._encoder_source
        if self._encoder is not None or source is None:
            return self._encoder
        if hasattr(source, "encode"):
            self._encoder = source
            return self._encoder
        with self._lock:
            if self._encoder is None and self._encoder_source is not None:
                try:
                    self._encoder = source()
                except Exception:  # noqa: BLE001 - a missing model must not stop a call
                    log.exception("topic encoder failed to load; matching by keywords only")
                    self._encoder_source = None
        return self._encoder


_DEFAULT: TopicMatcher | None = None
_DEFAULT_LOCK = threading.Lock()


def default_topic_matcher() -> TopicMatcher:
    """The process-wide matcher using the shared MiniLM encoder (loaded on first use)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            from voice.embedding import load_encoder

            _DEFAULT = TopicMatcher(encoder=load_encoder)
        return _DEFAULT
