"""Power and MDE formulas (audit/stats/power.py) against statsmodels and simulation."""


import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from audit.stats.power import (arcsine_effect, mde_mean, mde_normal, mde_paired_proportions, mde_proportion,
                               power_normal, power_paired_proportions, power_proportion, se_from_ci,
                               simulated_mde, simulated_power)
from audit.stats import mcnemar
from scipy.stats import binomtest


def test_arcsine_effect_is_statsmodels_proportion_effectsize():
    assert arcsine_effect(0.7, 0.8) == pytest.approx(proportion_effectsize(0.7, 0.8))


@pytest.mark.parametrize("p0,p1,n", [(0.8, 0.75, 400), (0.5, 0.6, 100), (0.1, 0.05, 1000)])
def test_power_proportion_matches_statsmodels_one_sample(p0, p1, n):
    h = abs(proportion_effectsize(p1, p0))
    expected = NormalIndPower().power(effect_size=h, nobs1=n, alpha=0.025, ratio=0, alternative="larger")
    assert power_proportion(p0, p1, n) == pytest.approx(expected, rel=1e-6)


def test_mde_proportion_reaches_80_percent_power_in_statsmodels():
    n, p0 = 300, 0.8
    mde = mde_proportion(p0, n, toward="lower")
    h = abs(proportion_effectsize(p0 - mde, p0))
    power = NormalIndPower().power(effect_size=h, nobs1=n, alpha=0.025, ratio=0, alternative="larger")
    assert power == pytest.approx(0.8, abs=1e-6)
    effect = NormalIndPower().solve_power(nobs1=n, alpha=0.025, power=0.8, ratio=0, alternative="larger")
    assert abs(arcsine_effect(p0 - mde, p0)) == pytest.approx(effect, rel=1e-4)


def test_mde_mean_matches_statsmodels_normal_power():
    sd, n = 2.0, 150
    effect = NormalIndPower().solve_power(nobs1=n, alpha=0.025, power=0.8, ratio=0, alternative="larger")
    assert mde_mean(sd, n) == pytest.approx(effect * sd, rel=1e-4)
    assert power_normal(mde_normal(0.1), 0.1) == pytest.approx(0.8)


def test_se_from_ci():
    assert se_from_ci(-1.96, 1.96) == pytest.approx(1.0, rel=1e-3)
    assert se_from_ci(None, 1.0) is None


def test_paired_proportions_power_against_exact_mcnemar_simulation():
    """Connor's formula against a Monte-Carlo of the exact one-sided McNemar test (independent check)."""
    n, psi, delta = 400, 0.12, 0.05
    rng = np.random.default_rng(0)
    hits = 0
    draws = 2000
    p_worse, p_better = (psi + delta) / 2, (psi - delta) / 2
    for _ in range(draws):
        cells = rng.multinomial(n, [p_worse, p_better, 1 - psi])
        k, disc = cells[0], cells[0] + cells[1]
        hits += disc > 0 and binomtest(int(k), int(disc), 0.5, alternative="greater").pvalue < 0.025
    formula = power_paired_proportions(delta, psi, n)
    assert abs(hits / draws - formula) < 0.06
    mde = mde_paired_proportions(psi, n)
    assert power_paired_proportions(mde, psi, n) == pytest.approx(0.8, abs=1e-6)


def test_simulated_power_plants_and_nulls():
    rng = np.random.default_rng(1)
    values = (rng.random(500) < 0.8).astype(float)

    def drop(base, size, r):
        out = base.copy()
        ones = np.flatnonzero(out == 1)
        out[r.choice(ones, int(round(size * out.size)), replace=False)] = 0
        return out

    def flagged(a, b):
        res = mcnemar(a.astype(bool), b.astype(bool))
        return res.difference < 0 and res.p_value < 0.05

    assert simulated_power(values, drop, 0.05, flagged, draws=50) > 0.9
    assert simulated_power(values, drop, 0.0, flagged, draws=50) == 0.0
    mde = simulated_mde(values, drop, flagged, max_size=0.2, draws=40)
    assert 0 < mde < 0.05
