"""Figures the frustration stage is judged by: ROC-AUC, F1, calibration error.

Pure numpy; shared by the trainer (``voice.frustration.training``), the dialogue
evaluation behind `voice score --eval` and the benchmarks.
"""

from __future__ import annotations

import numpy as np


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN if one class."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p, kind="mergesort")
    sorted_p = p[order]
    ranks = np.empty(len(p), dtype=np.float64)
    edges = np.flatnonzero(np.diff(sorted_p)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(p)]])
    for lo, hi in zip(starts, ends, strict=True):
        ranks[order[lo:hi]] = (lo + hi - 1) / 2 + 1
    pos = y > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def f1_at(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    """F1 of ``p >= threshold`` against ``y``."""
    pred = np.asarray(p) >= threshold
    pos = np.asarray(y) > 0.5
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


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - predicted probability| over equal-width bins, count-weighted."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            total += sel.sum() * abs(y[sel].mean() - p[sel].mean())
    return float(total / max(1, len(p)))
