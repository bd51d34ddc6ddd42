"""The shipped frustration model: a fine-tuned MiniLM run by ONNX Runtime (int8).

This module owns loading ``models/frustration_minilm/`` (``model.int8.onnx``, the
tokenizer, ``card.json``) and turning texts into calibrated frustration
probabilities: tokenise (max length from the card), one encoder pass, the card's
output formula (one output, or a noisy-OR of several), then the card's Platt
calibration.  ``voice.frustration.finetune`` writes these files.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voice.embedding import padded_batches
from voice.frustration.calibration import Platt, sigmoid

FINETUNED_NAME = "minilm-finetuned"
MODEL_DIRNAME = "frustration_minilm"
CARD_FILENAME = "card.json"


def combine(logits: np.ndarray, outputs: Sequence[str], formula: Sequence[str]) -> np.ndarray:
    """Raw frustration from output logits: one output's sigmoid, or a noisy-OR of several."""
    idx = [list(outputs).index(name) for name in formula]
    probs = sigmoid(logits[:, idx])
    return np.asarray(1.0 - np.prod(1.0 - probs, axis=1))


class FineTunedScorer:
    """Fine-tuned MiniLM (ONNX Runtime, int8 weights) with calibrated output."""

    name = FINETUNED_NAME

    def __init__(self, model_dir: Path | str, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        self.card: dict[str, Any] = json.loads((self.model_dir / CARD_FILENAME).read_text())
        self.outputs: list[str] = list(self.card["outputs"])
        self.formula: list[str] = list(self.card["score"]["formula"])
        cal = self.card["score"].get("calibration") or {}
        self.calibration = Platt(float(cal.get("a", 1.0)), float(cal.get("b", 0.0)))
        self.max_length = int(self.card["max_length"])
        # the call-level state's tuning chosen for this model on development dialogues
        self.state_tuning: dict[str, Any] = dict(self.card.get("state_tuning") or {})
        self.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()  # the packaged tokenizer.json pads every text to 128
        self.tokenizer.enable_truncation(self.max_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(self.model_dir / self.card["model_file"]), options,
            providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    @property
    def threshold(self) -> float:
        """The operating threshold (on the calibrated probability) from the card."""
        return float(self.card["score"].get("threshold", 0.5))

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """All output logits, one row per text.

        One text per run, unpadded, as the shared int8 encoder does: dynamic quantization
        scales activations per run, so a batch would make a text's score depend on its
        neighbours, and a graph exported through SDPA attention traced an all-ones mask
        away, so padding would be attended to.
        """
        out = np.zeros((len(texts), len(self.outputs)), dtype=np.float32)
        for rows, ids, mask in padded_batches(self.tokenizer, texts, batch_size=1):
            with self._lock:
                (result,) = self.session.run(["logits"], {"input_ids": ids,
                                                          "attention_mask": mask})
            out[rows] = result
        return out

    def raw(self, texts: Sequence[str]) -> np.ndarray:
        """Uncalibrated frustration per text (the card's formula over the outputs)."""
        if not texts:
            return np.zeros(0)
        return combine(self.logits(texts), self.outputs, self.formula)

    def score(self, texts: Sequence[str]) -> list[float]:
        """Calibrated frustration probability in 0..1 for each of ``texts``."""
        if not texts:
            return []
        return [float(p) for p in self.calibration.apply(self.raw(texts))]
