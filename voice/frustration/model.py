"""Per-utterance frustration scorers: text in, a 0..1 frustration score out.

This module owns the ``UtteranceScorer`` interface, ``load_scorer`` and these engines:

* ``MiniLMHeadScorer`` — the offline default and the baseline (``minilm-head``): the
  frozen shared MiniLM encoder (``voice.embedding``), with VADER's lexicon features
  (``voice.frustration.lexicon``) when the head was fitted with them, through the
  small head committed as ``models/frustration_head.npz``.
* ``FineTunedScorer`` (``voice.frustration.onnx_model``, ``minilm-finetuned``): MiniLM
  fine-tuned end to end, int8 ONNX, calibrated; ``models/frustration_minilm/``, written
  by `voice models train-frustration`.
* ``HFClassifierScorer`` — any Hugging Face sequence-classification model named by
  ``VOICE_SENTIMENT_MODEL``; its labels are mapped onto frustration through
  ``LABEL_WEIGHTS`` (see ``label_weight``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from voice.config import sentiment_model_from_env
from voice.frustration.calibration import Platt
from voice.frustration.lexicon import FEATURE_NAME as LEXICON_FEATURES
from voice.frustration.lexicon import lexicon_features

ENV_VAR = "VOICE_SENTIMENT_MODEL"
HEAD_SCORER_NAME = "minilm-head"  # the frozen-encoder baseline
FINETUNED_SCORER_NAME = "minilm-finetuned"
# The head: on the development dialogues it catches more than the fine-tuned model with the
# state tuned for each (README, "Frustration quality"), though it scores turns less well.
DEFAULT_SCORER_NAME = HEAD_SCORER_NAME
HEAD_FILENAME = "frustration_head.npz"

# How much each classifier label counts as frustration (lower-cased label names).
# Sentiment models: NEGATIVE / negative / "1 star" ...; emotion models: GoEmotions or
# Ekman-style labels.  Labels not listed weigh 0 (neutral, joy, positive ...).
LABEL_WEIGHTS: dict[str, float] = {
    "negative": 1.0,
    "neg": 1.0,
    "very negative": 1.0,
    "1 star": 1.0,
    "2 stars": 0.5,
    "anger": 1.0,
    "angry": 1.0,
    "annoyance": 1.0,
    "frustration": 1.0,
    "frustrated": 1.0,
    "disapproval": 0.7,
    "disappointment": 0.7,
    "disgust": 0.7,
    "contempt": 0.7,
}


class ScorerLoadError(RuntimeError):
    """A configured sentiment model (or the default head) could not be loaded."""


@runtime_checkable
class UtteranceScorer(Protocol):
    """Scores texts for frustration: one float in 0..1 per text, same order."""

    name: str

    def score(self, texts: Sequence[str]) -> list[float]:
        """Frustration in 0..1 for each of ``texts``."""
        ...


def repo_models_dir() -> Path:
    """The repository's top-level ``models/`` folder."""
    return Path(__file__).resolve().parents[2] / "models"


def default_head_path() -> Path:
    """Where the committed frustration head lives."""
    return repo_models_dir() / HEAD_FILENAME


@dataclass(frozen=True)
class Head:
    """A trained classification head over sentence embeddings.

    ``layers`` is a list of ``(weight, bias)`` pairs; hidden layers use ReLU and the
    last layer has one output, turned into a probability with a sigmoid.
    """

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    threshold: float = 0.5
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def reads_lexicon(self) -> bool:
        """Whether the head was fitted on embeddings plus the lexicon features."""
        return LEXICON_FEATURES in self.meta.get("features", ())

    def inputs(self, texts: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
        """What the head reads for ``texts``: their embeddings, then the lexicon
        features when it was fitted with them."""
        if not self.reads_lexicon:
            return embeddings
        return np.hstack([embeddings, lexicon_features(texts)])

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """Frustration probability for each row of ``embeddings`` (``inputs``' rows)."""
        x = embeddings.astype(np.float32)
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        logits = x.reshape(-1)
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))


def save_head(path: Path, head: Head) -> None:
    """Write ``head`` as ``.npz`` (weights) plus the metadata JSON beside it."""
    arrays: dict[str, Any] = {}  # savez(**arrays): its stub types the keywords as allow_pickle
    for i, (w, b) in enumerate(head.layers):
        arrays[f"w{i}"] = w.astype(np.float32)
        arrays[f"b{i}"] = b.astype(np.float32)
    arrays["threshold"] = np.array([head.threshold], dtype=np.float32)
    np.savez(path, **arrays)
    if head.meta:
        meta_path = path.with_suffix(".json")
        meta_path.write_text(json.dumps(dict(head.meta), indent=2, sort_keys=False) + "\n")


def load_head(path: Path | str | None = None) -> Head:
    """Read a head written by ``save_head`` (default: the committed one)."""
    path = Path(path) if path else default_head_path()
    if not path.exists():
        raise ScorerLoadError(
            f"frustration head not found at {path}; run "
            "`voice models train-frustration --with-baseline`"
        )
    with np.load(path) as data:
        n = sum(1 for k in data.files if k.startswith("w"))
        layers = tuple((data[f"w{i}"], data[f"b{i}"]) for i in range(n))
        threshold = float(data["threshold"][0]) if "threshold" in data.files else 0.5
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return Head(layers=layers, threshold=threshold, meta=meta)


class MiniLMHeadScorer:
    """The offline default: MiniLM sentence embeddings through the trained head."""

    name = HEAD_SCORER_NAME

    def __init__(self, head_path: Path | str | None = None, encoder: Any = None) -> None:
        self.head = load_head(head_path)
        scale = self.head.meta.get("state_scale") or {}
        self.scale = Platt(float(scale.get("a", 1.0)), float(scale.get("b", 0.0)))
        if encoder is None:
            from voice.embedding import load_encoder

            encoder = load_encoder()
        self.encoder = encoder

    @property
    def threshold(self) -> float:
        """The operating threshold the head was shipped with."""
        return self.head.threshold

    def score(self, texts: Sequence[str]) -> list[float]:
        """Frustration in 0..1 for each of ``texts``."""
        if not texts:
            return []
        embeddings = self.encoder.encode(list(texts))
        raw = self.head.predict(self.head.inputs(texts, embeddings))
        return [float(p) for p in self.scale.apply(raw)]


def label_weight(label: str) -> float:
    """How much a classifier label counts as frustration (0 when unknown)."""
    return LABEL_WEIGHTS.get(label.strip().lower().replace("_", " "), 0.0)


def frustration_from_probs(
    probs: Mapping[str, float], multi_label: bool = False
) -> float:
    """Map one text's label probabilities to frustration in 0..1.

    Single-label (softmax) models: the weighted sum of the probabilities of the
    negative labels.  Multi-label (sigmoid) models: a noisy-OR of the weighted
    probabilities, so several weak negative labels add up without passing 1.
    """
    if multi_label:
        calm = 1.0
        for label, p in probs.items():
            calm *= 1.0 - label_weight(label) * p
        return float(min(1.0, max(0.0, 1.0 - calm)))
    total = sum(label_weight(label) * p for label, p in probs.items())
    return float(min(1.0, max(0.0, total)))


class HFClassifierScorer:
    """Any Hugging Face sequence-classification model, mapped to frustration."""

    def __init__(self, model_name: str, max_length: int = 128) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self._torch = torch
        self.name = model_name
        self.max_length = max_length
        self.tokenizer = AutoTokenizer.from_pretrained(model_name)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_name)
        self.model.eval()
        self.labels = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        self.multi_label = self.model.config.problem_type == "multi_label_classification"
        if not any(label_weight(label) > 0 for label in self.labels):
            raise ScorerLoadError(
                f"{ENV_VAR}={model_name!r}: none of its labels {self.labels} maps to "
                "frustration (see voice.frustration.model.LABEL_WEIGHTS)"
            )

    def score(self, texts: Sequence[str]) -> list[float]:
        """Frustration in 0..1 for each of ``texts``."""
        if not texts:
            return []
        torch = self._torch
        batch = [t if t.strip() else "." for t in texts]
        tokens = self.tokenizer(
            batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        with torch.inference_mode():
            logits = self.model(**tokens).logits
        probs = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
        return [
            frustration_from_probs(dict(zip(self.labels, row.tolist(), strict=True)),
                                   self.multi_label)
            for row in probs
        ]


def load_scorer(
    model_name: str | None = None, head_path: Path | str | None = None
) -> UtteranceScorer:
    """The scorer named by ``model_name`` (a ``VOICE_SENTIMENT_MODEL`` value).

    ``None``, ``""``, ``"minilm-head"`` or a ``head_path`` give the offline default, the
    frozen-encoder head (``DEFAULT_SCORER_NAME``); ``"minilm-finetuned"`` the fine-tuned
    model in ``models/frustration_minilm/``, and a folder with a ``card.json`` that kind
    of model.
    Anything else is a Hugging Face model id or folder.  Raises ``ScorerLoadError``
    naming the variable.
    """
    if not model_name and head_path is None:
        model_name = DEFAULT_SCORER_NAME
    finetuned = _finetuned_dir(model_name)
    if finetuned is not None and head_path is None:
        try:
            from voice.frustration.onnx_model import FineTunedScorer

            return FineTunedScorer(finetuned)
        except Exception as exc:  # noqa: BLE001 - any load failure is a config error
            raise ScorerLoadError(f"fine-tuned frustration model in {finetuned} failed to "
                                  f"load: {exc}") from exc
    if model_name == FINETUNED_SCORER_NAME:
        raise ScorerLoadError(f"{ENV_VAR}={model_name!r}: no fine-tuned model in "
                              f"{default_finetuned_dir()}; run `voice models train-frustration`")
    if not model_name or model_name == HEAD_SCORER_NAME:
        try:
            return MiniLMHeadScorer(head_path)
        except ScorerLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - any load failure is a config error
            raise ScorerLoadError(f"default frustration scorer failed to load: {exc}") from exc
    try:
        return HFClassifierScorer(model_name)
    except ScorerLoadError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ScorerLoadError(
            f"{ENV_VAR}={model_name!r} could not be loaded as a Hugging Face "
            f"sequence-classification model: {exc}"
        ) from exc


def default_finetuned_dir() -> Path:
    """Where the committed fine-tuned model lives."""
    return repo_models_dir() / "frustration_minilm"


def _finetuned_dir(model_name: str | None) -> Path | None:
    """The fine-tuned model folder ``model_name`` means, if it means one that exists."""
    if not model_name:
        return None
    if model_name == FINETUNED_SCORER_NAME:
        folder = default_finetuned_dir()
    elif Path(model_name).is_dir():
        folder = Path(model_name)
    else:
        return None
    return folder if (folder / "card.json").exists() else None


def scorer_from_env() -> UtteranceScorer:
    """The scorer named by the ``VOICE_SENTIMENT_MODEL`` environment variable."""
    return load_scorer(sentiment_model_from_env())
