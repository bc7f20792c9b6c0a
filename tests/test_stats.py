"""Confidence intervals cover the truth at about their nominal rate; paired tests behave."""

from __future__ import annotations

import numpy as np
import pytest

from audit.stats import bootstrap_estimate, bootstrap_mean, mcnemar, paired_bootstrap, wilson_interval


def test_bootstrap_mean_covers_true_mean_in_simulation():
    rng = np.random.default_rng(123)
    true_p, covered, trials = 0.7, 0, 300
    for t in range(trials):
        sample = rng.random(200) < true_p
        est = bootstrap_mean(sample, seed=t, resamples=400)
        covered += est.ci_low <= true_p <= est.ci_high
    assert 0.90 <= covered / trials <= 0.99


def test_bootstrap_estimate_of_a_two_array_statistic():
    y = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 1] * 5)
    pred = np.array([1, 0, 0, 1, 0, 1, 1, 0, 1, 1] * 5)
    est = bootstrap_estimate(lambda idx: float((y[idx] == pred[idx]).mean()), len(y), seed=0)
    assert est.value == pytest.approx(0.8)
    assert est.ci_low < 0.8 < est.ci_high and est.n == 50


def test_wilson_matches_hand_computation():
    # p = 8/10, z = 1.959964: centre = (0.8 + z^2/20)/(1 + z^2/10); half from the Wilson formula
    est = wilson_interval(8, 10)
    z = 1.959963984540054
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z * np.sqrt(0.8 * 0.2 / 10 + z * z / 400) / (1 + z * z / 10)
    assert est.ci_low == pytest.approx(centre - half) and est.ci_high == pytest.approx(centre + half)


def test_mcnemar_exact_p_value():
    # 8 discordant pairs, all favouring the candidate: p = 2 * 0.5^8
    base = [False] * 8 + [True] * 20
    cand = [True] * 8 + [True] * 20
    result = mcnemar(base, cand)
    assert result.p_value == pytest.approx(2 * 0.5 ** 8)
    assert result.difference == pytest.approx(8 / 28)


def test_paired_bootstrap_detects_shift_and_not_noise():
    rng = np.random.default_rng(0)
    base = rng.normal(size=400)
    assert paired_bootstrap(base, base + 0.3 + rng.normal(scale=0.1, size=400)).p_value < 0.01
    assert paired_bootstrap(base, base + rng.normal(scale=0.1, size=400)).p_value > 0.05
