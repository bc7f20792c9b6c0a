"""One-sided paired tests (audit/stats/noninferiority.py), paired DeLong and group gaps, against
scipy, a brute-force DeLong and fairlearn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from scipy import stats as sps

from audit.stats.disparity import eligible_groups, eo_gap, group_codes, max_gap
from audit.stats.membership import auc_with_ci, delong_components, paired_auc_difference
from audit.stats.noninferiority import (adaptive_bootstrap_worse, delong_paired_worse, mcnemar_worse,
                                        paired_t_worse)


def test_exact_mcnemar_one_sided_is_the_binomial_tail():
    rng = np.random.default_rng(0)
    a = rng.random(300) < 0.8
    b = a.copy()
    b[np.flatnonzero(a)[:9]] = False      # 9 right -> wrong
    b[np.flatnonzero(~a)[:2]] = True      # 2 wrong -> right
    res = mcnemar_worse(a, b)
    assert res.worse_by == pytest.approx(7 / 300)
    assert res.p_value == pytest.approx(sps.binomtest(9, 11, 0.5, alternative="greater").pvalue)
    assert res.discordant == pytest.approx(11 / 300)
    # against a tolerance: the z test; a tolerance above the change is never rejected
    assert mcnemar_worse(a, b, 0.05).p_value > 0.5
    assert mcnemar_worse(a, a).p_value == 1.0


def test_paired_t_is_scipy_ttest_1samp_greater():
    d = np.random.default_rng(1).normal(0.02, 0.1, 200)
    res = paired_t_worse(d, 0.01)
    assert res.p_value == pytest.approx(sps.ttest_1samp(d, 0.01, alternative="greater").pvalue)
    low, high = sps.t.interval(0.95, 199, loc=d.mean(), scale=sps.sem(d))
    assert (res.ci_low, res.ci_high) == pytest.approx((low, high))


def _delong_bruteforce(scores, y):
    pos, neg = scores[y], scores[~y]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return psi.mean(axis=1), psi.mean(axis=0), psi.mean()


def test_delong_components_match_the_pairwise_definition():
    rng = np.random.default_rng(2)
    y = rng.random(120) < 0.5
    s = np.round(rng.normal(y * 0.6, 1.0), 1)      # ties included
    v10, v01, auc = delong_components(s, y)
    b10, b01, bauc = _delong_bruteforce(s, y)
    assert np.allclose(v10, b10) and np.allclose(v01, b01) and auc == pytest.approx(bauc)
    assert auc == pytest.approx(auc_with_ci(s, y).auc.value)


def test_paired_delong_variance_by_hand_and_null_calibration():
    rng = np.random.default_rng(3)
    y = rng.random(200) < 0.5
    a = rng.normal(y * 0.5, 1.0)
    b = a + rng.normal(0, 0.5, 200)
    res = paired_auc_difference(a, b, y)
    a10, a01, aauc = _delong_bruteforce(a, y)
    b10, b01, bauc = _delong_bruteforce(b, y)
    var = np.var(b10 - a10, ddof=1) / y.sum() + np.var(b01 - a01, ddof=1) / (~y).sum()
    assert res.difference == pytest.approx(bauc - aauc) and res.se == pytest.approx(np.sqrt(var))
    # null: two noisy copies of the same attack; one-sided p < 0.05 in about 5 % of draws
    hits = 0
    for k in range(200):
        r = np.random.default_rng(100 + k)
        yk = r.random(200) < 0.5
        base = r.normal(yk * 0.5, 1.0)
        hits += delong_paired_worse(base + r.normal(0, 0.5, 200), base + r.normal(0, 0.5, 200), yk).p_value < 0.05
    assert hits / 200 < 0.1
    # planted: a candidate whose attack separates members better is flagged
    planted = delong_paired_worse(a, a + y * 0.8, y)
    assert planted.worse_by > 0 and planted.p_value < 1e-6


def test_group_gaps_match_fairlearn():
    rng = np.random.default_rng(4)
    strata = rng.choice(["a", "b", "c"], 400).tolist()
    labels = (rng.random(400) < 0.4).astype(float)
    pred = (rng.random(400) < 0.3 + 0.2 * (np.array(strata) == "a")).astype(float)
    codes, names = group_codes(strata)
    idx = np.arange(400)[None, :]
    dpd = max_gap(pred[idx], codes[idx], len(names))[0]
    assert dpd == pytest.approx(demographic_parity_difference(labels, pred, sensitive_features=pd.Series(strata)))
    eo = eo_gap(pred[idx], labels[idx], codes[idx], len(names), eligible_groups(labels, codes, len(names)))[0]
    assert eo == pytest.approx(equalized_odds_difference(labels, pred, sensitive_features=pd.Series(strata)))


def test_adaptive_bootstrap_has_no_resampling_floor_and_a_calibrated_null():
    rng = np.random.default_rng(5)
    a = rng.normal(0, 1, 300)
    big = a + 0.5 + rng.normal(0, 0.1, 300)
    res = adaptive_bootstrap_worse(lambda i: big[i].mean(axis=1) - a[i].mean(axis=1), 300, float((big - a).mean()),
                                   resamples=500)
    assert res.p_value < 1 / 64_001 and "normal tail" in res.test         # far below 1/(B+1)
    same = adaptive_bootstrap_worse(lambda i: a[i].mean(axis=1) - a[i].mean(axis=1), 300, 0.0)
    assert same.p_value == 1.0
    small = a + 0.05 + rng.normal(0, 0.3, 300)
    mid = adaptive_bootstrap_worse(lambda i: small[i].mean(axis=1) - a[i].mean(axis=1), 300,
                                   float((small - a).mean()), resamples=500)
    t = sps.ttest_1samp(small - a, 0.0, alternative="greater").pvalue
    assert mid.p_value == pytest.approx(t, rel=0.5, abs=0.01)


def test_auc_distance_from_the_ideal_across_it():
    """An attack AUC moving from below 0.5 to as far above is no worsening; further away is one."""
    from audit.regression.paired_tests import align, run_test
    from audit.results import Metric, Outcomes

    rng = np.random.default_rng(9)
    y = (np.arange(200) < 100).astype(float)
    base = rng.normal(-0.3 * y, 1.0)                       # AUC below 0.5
    metric = Metric(name="privacy.mia_auc", value=0.4, n=200, ideal=0.5, higher_is_better=False)

    def tested(cand):
        o_b = Outcomes(metric="privacy.mia_auc", example_ids=[str(i) for i in range(200)], values=base.tolist(),
                       statistic="auc", labels=y.tolist())
        o_c = o_b.model_copy(update={"values": list(cand)})
        return run_test(align(o_b, o_c), o_c, metric, "ideal", 0.0, confidence=0.95, resamples=500, seed=0)
    mirrored = tested(-base)                                # AUC 1 − a: the same distance on the other side
    assert mirrored.test.worse_by == pytest.approx(0.0, abs=1e-9) and mirrored.test.p_value > 0.3
    further = tested(base - 0.8 * y)
    _, _, auc_b = delong_components(base, y > 0.5)
    _, _, auc_c = delong_components(base - 0.8 * y, y > 0.5)
    assert further.test.worse_by == pytest.approx(abs(auc_c - 0.5) - abs(auc_b - 0.5))
    assert further.test.p_value < 1e-4
