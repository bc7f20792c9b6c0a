"""Detector-error statistics: Rogan-Gladen against hand-computed values and a simulation, detector
accuracy against statsmodels' Wilson interval, and k-sample rates over prompts."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from audit.stats.detection import detector_accuracy, effective_n, k_sample_rates, rogan_gladen


def _accuracy(se_hits: int, n_pos: int, sp_hits: int, n_neg: int):
    truth = [True] * n_pos + [False] * n_neg
    flagged = [True] * se_hits + [False] * (n_pos - se_hits) + [False] * sp_hits + [True] * (n_neg - sp_hits)
    return detector_accuracy(truth, flagged)


def test_detector_accuracy_matches_statsmodels_wilson():
    acc = _accuracy(45, 50, 90, 100)
    assert acc.sensitivity.value == pytest.approx(0.9) and acc.specificity.value == pytest.approx(0.9)
    low, high = proportion_confint(45, 50, method="wilson")
    assert (acc.sensitivity.ci_low, acc.sensitivity.ci_high) == pytest.approx((low, high))
    assert acc.agreement == pytest.approx(135 / 150)


def test_rogan_gladen_hand_computed_value_and_variance():
    acc = _accuracy(90, 100, 95, 100)           # Se 0.9, Sp 0.95, J = 0.85
    est = rogan_gladen(0.30, 1000, acc)
    theta = (0.30 + 0.95 - 1) / 0.85
    assert est.value == pytest.approx(theta)
    var = (0.3 * 0.7 / 1000 + theta ** 2 * 0.9 * 0.1 / 100 + (1 - theta) ** 2 * 0.95 * 0.05 / 100) / 0.85 ** 2
    assert est.ci_high - est.value == pytest.approx(1.959964 * np.sqrt(var), rel=1e-4)


def test_rogan_gladen_ci_matches_a_simulation_of_all_three_error_sources():
    rng = np.random.default_rng(0)
    se, sp, prevalence, n, n_cal = 0.85, 0.92, 0.2, 600, 150
    p_obs = prevalence * se + (1 - prevalence) * (1 - sp)
    draws = []
    for _ in range(4000):
        p = rng.binomial(n, p_obs) / n
        s_e, s_p = rng.binomial(n_cal, se) / n_cal, rng.binomial(n_cal, sp) / n_cal
        draws.append((p + s_p - 1) / (s_e + s_p - 1))
    acc = _accuracy(int(se * n_cal), n_cal, int(round(sp * n_cal)), n_cal)
    est = rogan_gladen(p_obs, n, acc)
    assert (est.ci_high - est.ci_low) / 2 / 1.96 == pytest.approx(np.std(draws), rel=0.1)
    assert est.value == pytest.approx(prevalence, abs=0.01)


def test_rogan_gladen_is_undefined_for_a_chance_detector_and_clips():
    assert np.isnan(rogan_gladen(0.3, 100, _accuracy(5, 10, 5, 10)).value)
    low = rogan_gladen(0.01, 100, _accuracy(9, 10, 8, 10))    # observed below the false-positive floor
    assert low.value == 0.0 and low.ci_low == 0.0


def test_k_sample_rates_any_per_prompt_and_clustering():
    # 10 prompts x 4 samples; prompts 0-2 always flagged, prompt 3 once
    flags, ids = [], []
    for p in range(10):
        for k in range(4):
            flags.append(p < 3 or (p == 3 and k == 0))
            ids.append(f"p{p}")
    rates = k_sample_rates(flags, ids)
    assert rates.per_generation.value == pytest.approx(13 / 40)
    assert rates.any_per_prompt.value == pytest.approx(0.4) and rates.any_per_prompt.n == 10
    assert rates.n_eff < 40                                    # correlated samples carry less information
    naive_low, naive_high = proportion_confint(13, 40, method="wilson")
    assert rates.per_generation.ci_high - rates.per_generation.ci_low > naive_high - naive_low


def test_effective_n_is_the_number_of_outcomes_for_independent_clusters_of_one():
    rng = np.random.default_rng(1)
    flags = rng.random(200) < 0.3
    assert effective_n(flags, [str(i) for i in range(200)]) == pytest.approx(200)
