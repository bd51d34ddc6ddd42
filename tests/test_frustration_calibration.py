"""Platt and isotonic calibration: the fits recover what generated the data."""

from __future__ import annotations

import numpy as np
import pytest

from voice.frustration.calibration import fit_isotonic, fit_platt, logit, sigmoid
from voice.frustration.metrics import roc_auc


def _overconfident(scale: float, n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Raw probabilities whose logits are ``scale`` wide while the truth is sigmoid(0.3 x - 1)."""
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, scale, n)
    y = (rng.random(n) < sigmoid(0.3 * x - 1.0)).astype(float)
    return sigmoid(x), y


@pytest.mark.parametrize("scale", [1.0, 3.0, 8.0])
def test_platt_recovers_the_true_map_even_from_an_overconfident_model(scale: float) -> None:
    # plain Newton steps from (1, 0) diverged to |a| ~ 1e8 for scales of 3 and more
    p, y = _overconfident(scale)
    platt = fit_platt(p, y)
    assert platt.a == pytest.approx(0.3, abs=0.04)
    assert platt.b == pytest.approx(-1.0, abs=0.1)


def test_platt_keeps_the_order_of_scores() -> None:
    p, y = _overconfident(5.0, 4_000)
    calibrated = fit_platt(p, y).apply(p)
    assert roc_auc(y, calibrated) == pytest.approx(roc_auc(y, p))
    assert abs(calibrated.mean() - y.mean()) < 0.01


def test_platt_weights_count_like_repeated_rows() -> None:
    p, y = _overconfident(2.0, 3_000)
    weights = np.where(np.arange(len(p)) % 3 == 0, 2.0, 1.0)
    repeated = np.concatenate([p, p[::3]]), np.concatenate([y, y[::3]])
    weighted, plain = fit_platt(p, y, weights), fit_platt(*repeated)
    assert weighted.a == pytest.approx(plain.a, rel=1e-4)
    assert weighted.b == pytest.approx(plain.b, abs=1e-4)


def test_isotonic_is_monotone_and_matches_the_rates() -> None:
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    y = np.array([0.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    iso = fit_isotonic(p, y)
    out = iso.apply(p)
    assert np.all(np.diff(out) >= 0)
    assert out[0] == 0.0 and out[-1] == 1.0
    assert out[2] == pytest.approx(1 / 3)  # the pooled block 0.2-0.4, at its mean x


def test_logit_is_finite_at_zero_and_one() -> None:
    assert np.all(np.isfinite(logit(np.array([0.0, 1.0]))))
