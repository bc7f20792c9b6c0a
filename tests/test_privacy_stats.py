"""Privacy-audit statistics: MIA ROC/AUC/TPR@FPR, the ROC ε lower bound, the one-run audit, exposure."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import optimize, stats
from scipy.special import expit
from sklearn.metrics import roc_auc_score, roc_curve

from suites.privacy.exposure import exposure, random_secret, secret_space_size
from audit.stats.dp_audit import (audit_one_run, delta_zero_bound_all_correct, epsilon_lower_bound,
                                    guesses_from_scores, p_value)
from audit.stats.membership import auc_with_ci, empirical_epsilon, roc_points, tpr_at_fpr


def _scores(seed: int, n_members: int, n_non: int, shift: float, decimals: int | None = None):
    rng = np.random.default_rng(seed)
    s = np.r_[rng.normal(shift, 1, n_members), rng.normal(0, 1, n_non)]
    if decimals is not None:
        s = np.round(s, decimals)  # ties, the case where ROC code usually goes wrong
    return s, np.r_[np.ones(n_members, bool), np.zeros(n_non, bool)]


# ---------------------------------------------------------------- ROC, AUC, TPR@FPR


@pytest.mark.parametrize("decimals", [None, 1])
def test_roc_points_match_sklearn(decimals):
    s, y = _scores(1, 150, 230, 0.7, decimals)
    roc = roc_points(s, y)
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(roc.fpr, fpr)
    np.testing.assert_allclose(roc.tpr, tpr)
    np.testing.assert_array_equal(roc.thresholds, thr)


@pytest.mark.parametrize("decimals", [None, 1])
def test_auc_matches_sklearn(decimals):
    s, y = _scores(2, 120, 80, 0.5, decimals)
    assert auc_with_ci(s, y).auc.value == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_delong_ci_equals_direct_structural_components():
    """Sun & Xu's midrank algorithm must give DeLong's (1988) O(mn) structural-component variance."""
    s, y = _scores(3, 60, 90, 0.8, decimals=1)
    x, z = s[y], s[~y]
    psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    se = math.sqrt(v10.var(ddof=1) / x.size + v01.var(ddof=1) / z.size)
    result = auc_with_ci(s, y)
    assert result.auc.value == pytest.approx(psi.mean())
    assert result.auc.ci_low == pytest.approx(psi.mean() - 1.959963985 * se)
    assert result.auc.ci_high == pytest.approx(psi.mean() + 1.959963985 * se)
    assert (result.n_members, result.n_nonmembers, result.auc.n) == (60, 90, 150)


def test_delong_se_agrees_with_stratified_bootstrap():
    s, y = _scores(4, 200, 300, 0.6)
    x, z = s[y], s[~y]
    rng = np.random.default_rng(0)
    draws = [roc_auc_score(np.r_[np.ones(x.size), np.zeros(z.size)],
                           np.r_[rng.choice(x, x.size), rng.choice(z, z.size)]) for _ in range(2000)]
    result = auc_with_ci(s, y, confidence=0.95)
    delong_se = (result.auc.ci_high - result.auc.ci_low) / (2 * 1.959963985)
    assert delong_se == pytest.approx(np.std(draws, ddof=1), rel=0.1)


def test_auc_ci_needs_two_of_each_class_and_two_classes():
    assert auc_with_ci([0.9, 0.1, 0.2], [True, False, False]).auc.ci_low is None
    with pytest.raises(ValueError):
        auc_with_ci([0.9, 0.1], [True, True])


def test_tpr_at_fpr_by_hand():
    members = [0.95, 0.9, 0.7, 0.6, 0.2]
    nonmembers = [0.8, 0.65, 0.5, 0.4, 0.3, 0.25, 0.15, 0.1, 0.05, 0.0]
    s, y = np.r_[members, nonmembers], np.r_[[True] * 5, [False] * 10]
    # descending: .95 M, .9 M, .8 N, .7 M, .65 N, .6 M, .5 N, ...
    at_0 = tpr_at_fpr(s, y, 0.0)
    assert (at_0.tpr.value, at_0.achieved_fpr, at_0.threshold) == (0.4, 0.0, 0.9)
    for target in (0.1, 0.15):  # one false positive allowed: flag down to 0.7
        r = tpr_at_fpr(s, y, target)
        assert (r.tpr.value, r.achieved_fpr, r.threshold) == (0.6, 0.1, 0.7)
    at_20 = tpr_at_fpr(s, y, 0.2)
    assert (at_20.tpr.value, at_20.achieved_fpr, at_20.threshold) == (0.8, 0.2, 0.6)
    exact = stats.binomtest(3, 5).proportion_ci(0.95, method="exact")
    r = tpr_at_fpr(s, y, 0.1)
    assert (r.tpr.ci_low, r.tpr.ci_high) == pytest.approx((exact.low, exact.high))
    assert (r.tpr.n, r.n_members, r.n_nonmembers, r.tpr.ci_method) == (5, 5, 10, "clopper-pearson")


# ---------------------------------------------------------------- ROC ε lower bound


def gdp_epsilon(mu: float, delta: float) -> float:
    """Exact ε of μ-GDP at δ: solves Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2) = δ (Dong, Roth & Su 2019)."""
    def curve(e: float) -> float:
        return stats.norm.cdf(-e / mu + mu / 2) - math.exp(e) * stats.norm.cdf(-e / mu - mu / 2) - delta
    return optimize.brentq(curve, 0.0, 100.0)


@pytest.mark.parametrize("mu", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("delta", [1e-5, 0.1])
def test_empirical_epsilon_never_exceeds_gaussian_dp_truth(mu, delta):
    """N(μ,1) vs N(0,1) scores are exactly μ-GDP, so a valid lower bound stays below the true ε."""
    truth = gdp_epsilon(mu, delta)
    bounds, points = [], []
    for seed in range(200):
        r = empirical_epsilon(*_scores(seed, 1000, 1000, mu), delta=delta)
        bounds.append(r.epsilon)
        points.append(r.point_estimate)
        assert r.n_thresholds <= 100 and (r.n_members, r.n_nonmembers) == (1000, 1000)
    assert max(bounds) <= truth
    if mu == 2.0:  # a strong attack must show leakage every time
        assert min(bounds) > 1.5
    if mu == 1.0 and delta == 0.1:  # why the Clopper–Pearson bounds: raw rates overshoot the truth
        assert np.mean(np.array(points) > truth) > 0.5


def test_empirical_epsilon_is_zero_without_signal():
    bounds = [empirical_epsilon(*_scores(seed, 1000, 1000, 0.0), delta=1e-5).epsilon for seed in range(200)]
    assert np.mean(np.array(bounds) == 0.0) >= 0.95
    assert max(bounds) < 0.2


def test_empirical_epsilon_closed_form_on_perfect_separation():
    """Members all 1, non-members all 0: thresholds {0, 1} (T = 2); at t = 1 FP = FN = 0, whose one-sided
    Clopper–Pearson upper bound at level a is 1 − a^(1/n); so ε = ln((1 − δ − u)/u) with a = α/(2T)."""
    s, y = np.r_[np.ones(500), np.zeros(400)], np.r_[np.ones(500, bool), np.zeros(400, bool)]
    r = empirical_epsilon(s, y, delta=1e-5, confidence=0.95)
    a = 0.05 / 4
    u_fp, u_fn = 1 - a ** (1 / 400), 1 - a ** (1 / 500)
    expected = max(math.log((1 - 1e-5 - u_fp) / u_fn), math.log((1 - 1e-5 - u_fn) / u_fp))
    assert (r.n_thresholds, r.threshold) == (2, 1.0)
    assert r.epsilon == pytest.approx(expected)
    assert r.point_estimate == math.inf


# ---------------------------------------------------------------- one-run audit (Steinke et al. 2023)


@pytest.mark.parametrize("m, r, v, delta, expected", [
    (100, 100, 75, 0.0, 0.702),            # worked example, δ = 0
    (100, 100, 75, 1e-4, 0.699),           # same with δ = 1e-4
    (1000, 100, 75, 1e-4, 0.673),          # Appendix D (p. 46): get_eps_audit(1000, 100, 75, 1e-4, 0.05)
    (100_000, 1510, 1439, 1e-5, 2.675),    # p. 28: m = 10^5, r = 1510, v = 1439, δ = 1e-5
])
def test_one_run_paper_worked_values(m, r, v, delta, expected):
    # the paper prints 3 decimals, not always rounded (2.6759 is printed 2.675): agree to within 1e-3
    assert epsilon_lower_bound(m, r, v, delta, p=0.05) == pytest.approx(expected, abs=1e-3)


def test_one_run_p_value_worked_value():
    assert p_value(100, 100, 75, math.log(3), 0.0) == pytest.approx(0.553, abs=6e-4)


@pytest.mark.parametrize("r, v", [(100, 75), (100, 90), (1000, 600), (37, 30), (500, 499)])
def test_one_run_delta_zero_solves_the_binomial_tail(r, v):
    """δ = 0: the bound is the ε where P[Binom(r, e^ε/(1+e^ε)) ≥ v] = p, found by brentq independently."""
    root = optimize.brentq(lambda e: stats.binom.sf(v - 1, r, expit(e)) - 0.05, 0.0, 50.0, xtol=1e-12)
    assert epsilon_lower_bound(10 * r, r, v, 0.0, 0.05) == pytest.approx(root, abs=1e-6)


def test_one_run_all_correct_closed_form():
    for r in (10, 100, 1000):
        assert epsilon_lower_bound(r, r, r, 0.0) == pytest.approx(delta_zero_bound_all_correct(r), abs=1e-6)
    assert delta_zero_bound_all_correct(100) == pytest.approx(math.log(0.05 ** 0.01 / (1 - 0.05 ** 0.01)))


def test_one_run_zero_at_chance_and_monotone():
    assert epsilon_lower_bound(1000, 200, 100, 1e-5) == 0.0
    assert epsilon_lower_bound(1000, 200, 40, 1e-5) == 0.0
    assert epsilon_lower_bound(1000, 200, 0, 1e-5) == 0.0
    bounds = [epsilon_lower_bound(1000, 200, v, 1e-5) for v in range(100, 201)]
    assert all(b2 >= b1 for b1, b2 in zip(bounds, bounds[1:]))
    assert bounds[-1] > bounds[60] > 0.0
    # more δ or more canaries behind the same guesses only weaken the bound
    assert epsilon_lower_bound(1000, 200, 170, 1e-3) <= epsilon_lower_bound(1000, 200, 170, 1e-6)
    assert epsilon_lower_bound(10**6, 200, 170, 1e-5) <= epsilon_lower_bound(1000, 200, 170, 1e-5)


@pytest.mark.parametrize("eps0", [0.0, 0.5, 2.0])
def test_one_run_exact_false_positive_rate_under_randomized_response(eps0):
    """An ε0-DP randomized-response guesser gets v ~ Binom(r, e^ε0/(1+e^ε0)); the bound may exceed ε0
    with probability at most p. Summed exactly over v, not simulated."""
    r = 80
    pmf = stats.binom.pmf(np.arange(r + 1), r, expit(eps0))
    wrong = sum(pmf[v] for v in range(r + 1) if epsilon_lower_bound(1000, r, v, 1e-5) > eps0 + 1e-7)
    assert wrong <= 0.05


def test_guesses_from_scores_by_hand():
    scores = [0.9, 0.8, 0.5, 0.2, 0.1]
    included = [True, False, True, False, False]
    assert guesses_from_scores(scores, included, 2, 2) == (4, 3)  # in: 0.9 ✓ 0.8 ✗; out: 0.2 ✓ 0.1 ✓
    assert guesses_from_scores(scores, included, 1, 0) == (1, 1)
    assert guesses_from_scores(scores, included, 0, 1) == (1, 1)
    with pytest.raises(ValueError):
        guesses_from_scores(scores, included, 3, 3)


def test_audit_one_run_from_scores():
    rng = np.random.default_rng(0)
    included = rng.random(1000) < 0.5
    leaky = audit_one_run(rng.normal(size=1000) + 3 * included, included, 100, 100, delta=1e-5)
    assert (leaky.m, leaky.r) == (1000, 200) and leaky.v >= 190 and leaky.epsilon > 2.5
    blind = audit_one_run(rng.normal(size=1000), included, 100, 100, delta=1e-5)
    assert blind.epsilon < 0.5


# ---------------------------------------------------------------- exposure (Carlini et al. 2019)


def test_exposure_by_hand():
    candidates = np.linspace(1.0, 2.0, 1000)
    best = exposure(0.5, candidates, 10**6)  # canary beats all 1000 sampled candidates: rank 1
    assert (best.exposure, best.rank, best.n_better) == (pytest.approx(math.log2(1e6)), 1.0, 0)
    ten = exposure(float(candidates[10]), candidates, 10**6)  # 10 of 1000 are better
    assert ten.rank == pytest.approx(1 + 999_999 * 10 / 1000)
    assert ten.exposure == pytest.approx(math.log2(1e6) - math.log2(1 + 999_999 / 100))
    worst = exposure(3.0, candidates, 10**6)
    assert (worst.exposure, worst.rank) == (0.0, 10**6)
    tie = exposure(1.0, candidates, 10**6)  # a tie with the best candidate does not count as better
    assert tie.exposure == pytest.approx(math.log2(1e6))


def test_exposure_is_exact_when_the_space_is_enumerated():
    others = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0, 3.5, 8.0])  # the 9 other secrets of a {d} space
    result = exposure(2.0, others, 10)  # 1.0 and 1.5 beat it: rank 3
    assert result.rank == pytest.approx(3.0)
    assert result.exposure == pytest.approx(math.log2(10) - math.log2(3))


def test_random_secret_format_and_space():
    fmt = "{d}{d}{d}-{d}{d}{d}{d}"
    assert secret_space_size(fmt) == 10**7
    rng = np.random.default_rng(0)
    secrets = [random_secret(fmt, rng) for _ in range(200)]
    assert all(re.fullmatch(r"\d{3}-\d{4}", s) for s in secrets)
    assert random_secret(fmt, np.random.default_rng(5)) == random_secret(fmt, np.random.default_rng(5))
    counts = np.bincount([int(c) for s in secrets for c in s if c.isdigit()], minlength=10)
    assert stats.chisquare(counts).pvalue > 1e-3  # every digit uniform
    for bad in ("no slots", "{d}{x}", "{d}}"):
        with pytest.raises(ValueError):
            secret_space_size(bad)
