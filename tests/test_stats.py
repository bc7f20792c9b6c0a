"""Confidence intervals and paired tests, checked against statsmodels (an independent implementation)
and by simulation (coverage, type-I error)."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportion_confint

from audit.stats import (bootstrap_estimate, bootstrap_mean, bootstrap_p_value, clustered_wilson,
                         design_effect, mcnemar, paired_bootstrap, wilson_interval, wilson_proportion)


def test_bootstrap_mean_covers_true_mean_in_simulation():
    rng = np.random.default_rng(123)
    true_mean, covered, trials = 0.7, 0, 300
    for t in range(trials):
        sample = rng.normal(true_mean, 1.0, size=200)
        est = bootstrap_mean(sample, seed=t, resamples=400)
        covered += est.ci_low <= true_mean <= est.ci_high
    assert 0.90 <= covered / trials <= 0.99


def test_bootstrap_estimate_of_a_two_array_statistic():
    y = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 1] * 5)
    pred = np.array([1, 0, 0, 1, 0, 1, 1, 0, 1, 1] * 5)
    est = bootstrap_estimate(lambda idx: float((y[idx] == pred[idx]).mean()), len(y), seed=0)
    assert est.value == pytest.approx(0.8)
    assert est.ci_low < 0.8 < est.ci_high and est.n == 50 and est.nan_share == 0.0


def test_bootstrap_reports_the_share_of_undefined_resamples():
    # The statistic is undefined (NaN) whenever the resample holds no 1: P = (1 - 1/n)^n for one 1.
    values = np.array([1.0] + [0.0] * 9)
    est = bootstrap_estimate(lambda i: 1.0 if values[i].any() else float("nan"), 10, seed=0, resamples=2000)
    assert est.nan_share == pytest.approx(0.9 ** 10, abs=0.03)


@pytest.mark.parametrize("successes,n,confidence", [(8, 10, 0.95), (0, 7, 0.95), (12, 12, 0.9), (57, 100, 0.99),
                                                    (1, 3, 0.8)])
def test_wilson_matches_statsmodels(successes, n, confidence):
    est = wilson_interval(successes, n, confidence)
    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    assert est.ci_low == pytest.approx(low, abs=1e-12) and est.ci_high == pytest.approx(high, abs=1e-12)
    assert est.value == successes / n and est.confidence == confidence


def test_wilson_does_not_collapse_on_a_perfect_small_group():
    # The percentile bootstrap gives [1, 1] here; Wilson keeps an honest lower bound.
    perfect = bootstrap_mean(np.ones(5), seed=0)
    assert (perfect.ci_low, perfect.ci_high) == (1.0, 1.0)
    est = wilson_proportion(np.ones(5))
    assert est.ci_high == 1.0 and est.ci_low == pytest.approx(proportion_confint(5, 5, method="wilson")[0])
    assert est.ci_low < 0.6


def test_wilson_bounds_hold_the_estimate_exactly_at_0_and_1():
    for n in (3, 7, 84, 1001):
        assert wilson_interval(0, n).ci_low == 0.0 and wilson_interval(n, n).ci_high == 1.0


def test_wilson_proportion_rejects_non_binary_outcomes():
    with pytest.raises(ValueError, match="0/1"):
        wilson_proportion([0.0, 0.5, 1.0])


def _clusters(rng: np.random.Generator, n_clusters: int, size: int, rho_share: float) -> tuple[np.ndarray, list[str]]:
    """0/1 outcomes where a share of each cluster copies the cluster's own draw (within-cluster correlation)."""
    values, labels = [], []
    for c in range(n_clusters):
        shared = rng.random() < 0.3
        for _ in range(size + int(rng.integers(0, 3))):
            values.append(shared if rng.random() < rho_share else rng.random() < 0.3)
            labels.append(f"c{c}")
    return np.asarray(values, float), labels


def test_design_effect_matches_statsmodels_cluster_robust_variance():
    rng = np.random.default_rng(5)
    values, labels = _clusters(rng, 40, 5, 0.6)
    codes = np.unique(labels, return_inverse=True)[1]
    fit = OLS(values, np.ones((values.size, 1))).fit(cov_type="cluster", cov_kwds={"groups": codes})
    p = values.mean()
    expected = fit.bse[0] ** 2 / (p * (1 - p) / values.size)
    assert design_effect(values, codes) == pytest.approx(expected, rel=1e-9)
    est = clustered_wilson(values, labels)
    n_eff = values.size / expected
    low, high = proportion_confint(p * n_eff, n_eff, method="wilson")
    assert (est.ci_low, est.ci_high) == (pytest.approx(low), pytest.approx(high)) and est.n == values.size
    assert "design-effect" in est.ci_method


def test_clustered_wilson_is_wider_than_naive_and_never_collapses():
    rng = np.random.default_rng(1)
    values, labels = _clusters(rng, 30, 6, 0.8)
    naive, clustered = wilson_proportion(values), clustered_wilson(values, labels)
    assert clustered.ci_high - clustered.ci_low > naive.ci_high - naive.ci_low
    none = clustered_wilson(np.zeros(12), ["a"] * 6 + ["b"] * 6)   # no flips at all: deff not estimable
    # worst case: 2 clusters of 6 = 2 effective observations -> Wilson(0 of 2)
    assert none.ci_low == 0.0 and none.ci_high == pytest.approx(proportion_confint(0, 2, method="wilson")[1])


def test_clustered_wilson_covers_in_simulation():
    rng = np.random.default_rng(7)
    covered, trials = 0, 300
    for _ in range(trials):
        values, labels = _clusters(rng, 40, 4, 0.7)
        est = clustered_wilson(values, labels)
        covered += est.ci_low <= 0.3 <= est.ci_high
    assert covered / trials >= 0.91


def test_mcnemar_exact_p_value_matches_statsmodels():
    base = np.array([True] * 20 + [True] * 3 + [False] * 9 + [False] * 5)
    cand = np.array([True] * 20 + [False] * 3 + [True] * 9 + [False] * 5)
    result = mcnemar(base, cand)
    table = np.array([[20, 3], [9, 5]])   # rows: baseline right/wrong; columns: candidate right/wrong
    assert result.p_value == pytest.approx(sm_mcnemar(table, exact=True).pvalue, rel=1e-12)
    assert result.difference == pytest.approx((9 - 3) / 37)


def test_mcnemar_ci_follows_the_configured_confidence():
    base = np.array([True] * 60 + [False] * 40)
    cand = np.array([True] * 50 + [False] * 10 + [True] * 25 + [False] * 15)
    wide, narrow = mcnemar(base, cand, confidence=0.99), mcnemar(base, cand, confidence=0.80)
    # Agresti-Min by hand: b = 10.5, c = 25.5, m = 102
    b, c, m = 10.5, 25.5, 102.0
    se = np.sqrt((b + c) - (c - b) ** 2 / m) / m
    for res, z in ((wide, 2.5758293035489004), (narrow, 1.2815515655446004)):
        assert res.ci_low == pytest.approx((c - b) / m - z * se) and res.ci_high == pytest.approx((c - b) / m + z * se)
        assert res.confidence in (0.99, 0.80)
    same = mcnemar(base, base)
    assert same.ci_low < 0 < same.ci_high and same.p_value == 1.0   # no collapse to [0, 0]


def test_bootstrap_p_value_is_never_zero():
    assert bootstrap_p_value(0, 999) == pytest.approx(1 / 1000)
    rng = np.random.default_rng(0)
    base = rng.normal(size=300)
    result = paired_bootstrap(base, base + 5.0 + rng.normal(scale=0.1, size=300), resamples=500)
    assert result.p_value == pytest.approx(1 / 501)


def test_paired_bootstrap_detects_shift_and_not_noise():
    rng = np.random.default_rng(0)
    base = rng.normal(size=400)
    assert paired_bootstrap(base, base + 0.3 + rng.normal(scale=0.1, size=400)).p_value < 0.01
    assert paired_bootstrap(base, base + rng.normal(scale=0.1, size=400)).p_value > 0.05


def test_paired_bootstrap_type_one_error_is_near_alpha():
    """Under the null (no true difference) the test rejects at about its nominal 5% rate."""
    rng = np.random.default_rng(11)
    sims, n, rejected = 2000, 50, 0
    for s in range(sims):
        base = rng.normal(size=n)
        rejected += paired_bootstrap(base, base + rng.normal(size=n), seed=s, resamples=499).p_value < 0.05
    rate = rejected / sims        # binomial sd at 5%: 0.5 points; the bootstrap is slightly liberal at n=50
    assert 0.03 <= rate <= 0.08, rate
