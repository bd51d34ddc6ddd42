"""Calibrated probabilities: Platt scaling (and isotonic, for comparison) fitted on dev data.

A raw model output of 0.6 means different things on different models; after
``Platt.apply`` it is meant to be "about 60 % of such utterances are frustrated"
on the development data it was fitted on.  Platt keeps the order of scores (so
AUC is unchanged) and has two numbers, stored in the model card.  Numpy, and SciPy's
minimiser for the Platt fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = 1e-6


def logit(p: np.ndarray | float) -> np.ndarray:
    """log(p / (1 - p)), clipped away from 0 and 1."""
    q = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(q / (1 - q))


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """1 / (1 + exp(-x)), clipped to avoid overflow."""
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, dtype=np.float64), -30, 30)))


@dataclass(frozen=True)
class Platt:
    """p_calibrated = sigmoid(a * logit(p_raw) + b)."""

    a: float = 1.0
    b: float = 0.0

    def apply(self, p: np.ndarray | float) -> np.ndarray:
        """Calibrated probabilities for raw probabilities ``p``."""
        return sigmoid(self.a * logit(p) + self.b)

    def to_dict(self) -> dict[str, float]:
        """The two numbers, for the model card."""
        return {"a": round(self.a, 6), "b": round(self.b, 6)}


def fit_platt(p: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> Platt:
    """Fit Platt scaling: the (a, b) of least weighted log-loss (SciPy's L-BFGS, exact
    gradient).  Plain Newton steps from (1, 0) diverge when the raw model is overconfident,
    so the minimiser is SciPy's rather than our own."""
    from scipy.optimize import minimize

    x = logit(p)
    y = np.asarray(y, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()

    def loss(ab: np.ndarray) -> tuple[float, np.ndarray]:
        z = ab[0] * x + ab[1]
        # log(1 + e^z) - y z, written stably; its gradient is (sigmoid(z) - y) [x, 1]
        value = float((w * (np.logaddexp(0.0, z) - y * z)).sum())
        r = w * (sigmoid(z) - y)
        return value, np.array([(r * x).sum(), r.sum()])

    result = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B",
                      options={"gtol": 1e-10, "ftol": 1e-14, "maxiter": 1000})
    return Platt(float(result.x[0]), float(result.x[1]))


@dataclass(frozen=True)
class Isotonic:
    """A monotone step function from raw to calibrated probability (PAV fit)."""

    xs: tuple[float, ...]
    ys: tuple[float, ...]

    def apply(self, p: np.ndarray | float) -> np.ndarray:
        """Calibrated probabilities (linear between the fitted steps)."""
        return np.interp(np.asarray(p, dtype=np.float64), self.xs, self.ys)


def fit_isotonic(p: np.ndarray, y: np.ndarray) -> Isotonic:
    """Pool-adjacent-violators fit of y on p."""
    order = np.argsort(p, kind="mergesort")
    xs = list(np.asarray(p, dtype=np.float64)[order])
    blocks: list[list[float]] = []  # [sum_y, count, x_mean_sum]
    for x, t in zip(xs, np.asarray(y, dtype=np.float64)[order], strict=True):
        blocks.append([t, 1.0, x])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            s, c, xm = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
            blocks[-1][2] += xm
    return Isotonic(tuple(b[2] / b[1] for b in blocks), tuple(b[0] / b[1] for b in blocks))
