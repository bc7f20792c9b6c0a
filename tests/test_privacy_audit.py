"""The multi-run DP audit: its bound (against scipy), its ceiling, and that it can fail: a trainer
without clipping or without noise is falsified; the correct one is not, in >= 19 of 20 seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from audit.models.training.dp import noise_multiplier, quiet_opacus
from audit.models.training.probe import Defect, ProbeSchedule
from audit.models.training.recipe import PrivacySpec
from audit.stats.membership import min_nonmembers, tpr_at_fpr, tpr_at_fpr_bootstrap
from audit.stats.multi_run_audit import audit_runs, epsilon_bound, expected_bound, max_provable_epsilon, runs_needed
from suites.privacy.probe_audit import audit_trainer

DELTA = 1e-5


def test_epsilon_bound_matches_a_hand_computed_clopper_pearson_bound():
    fp, n_out, fn, n_in = 3, 200, 40, 200
    fpr_up = sps.beta.ppf(1 - 0.025, fp + 1, n_out - fp)
    fnr_up = sps.beta.ppf(1 - 0.025, fn + 1, n_in - fn)
    want = max(math.log((1 - DELTA - fpr_up) / fnr_up), math.log((1 - DELTA - fnr_up) / fpr_up))
    assert float(epsilon_bound(np.array(fp), n_out, np.array(fn), n_in, DELTA)) == pytest.approx(want, rel=1e-12)


def test_max_provable_is_the_zero_error_bound():
    n = 500
    u0 = 1 - 0.025 ** (1 / n)                 # Clopper-Pearson upper bound for 0 of n at alpha/2
    assert max_provable_epsilon(n, n, DELTA) == pytest.approx(math.log((1 - DELTA - u0) / u0), rel=1e-9)
    assert 4.8 < max_provable_epsilon(500, 500, DELTA) < 5.0      # the default design: about ln(n) - 1


def test_perfect_separation_reaches_the_ceiling_and_chance_proves_little():
    rng = np.random.default_rng(0)
    perfect = audit_runs(rng.normal(10, 1, 400), rng.normal(0, 1, 400), DELTA)
    assert perfect.epsilon == pytest.approx(perfect.max_provable)
    nulls = [audit_runs(rng.normal(0, 1, 400), rng.normal(0, 1, 400), DELTA).epsilon for _ in range(40)]
    assert np.mean(np.array(nulls) > 0.0) <= 0.1


def test_planning_numbers_grow_with_the_claim():
    assert expected_bound(3.0, 1000, DELTA) > expected_bound(1.0, 1000, DELTA)
    small, large = runs_needed(1.0, 1.0, DELTA), runs_needed(0.5, 1.0, DELTA)
    assert small is not None and large is not None and large > small


def test_tpr_at_fpr_needs_ten_over_fpr_non_members_and_its_ci_covers_the_threshold():
    assert min_nonmembers(0.01) == 1000 and min_nonmembers(0.001) == 10000
    # Gaussian scores: true TPR at FPR f is 1 - Phi(z_{1-f} - mu); the CI must cover it ~95% of the time.
    mu, f, covered, widths = 1.0, 0.05, 0, []
    truth = float(sps.norm.sf(sps.norm.isf(f) - mu))
    for seed in range(60):
        rng = np.random.default_rng(seed)
        s = np.r_[rng.normal(mu, 1, 400), rng.normal(0, 1, 400)]
        y = np.r_[np.ones(400, bool), np.zeros(400, bool)]
        low, high = tpr_at_fpr_bootstrap(s, y, f, resamples=400, seed=seed)
        covered += low <= truth <= high
        members_only = tpr_at_fpr(s, y, f).tpr
        widths.append((high - low) / (members_only.ci_high - members_only.ci_low))
    assert covered >= 51                      # >= 85 % of 60 (nominal 95 %)
    assert np.mean(widths) > 1.05             # wider than the members-only Clopper-Pearson interval


def _setup():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    schedule = ProbeSchedule(steps=30, batch_size=16, learning_rate=0.05, max_grad_norm=1.0)
    with quiet_opacus():
        sigma = noise_multiplier(PrivacySpec(epsilon=1.0, delta=DELTA), 16 / 64, 30)
    return x, y, schedule, sigma


def _audit(defect: Defect, seed: int):
    x, y, schedule, sigma = _setup()
    return audit_trainer(x, y, 2, schedule, sigma=sigma, population=64, claimed=1.0, delta=DELTA, runs_per_arm=200,
                         examples=8, dims=4, defect=defect, seed=seed)


@pytest.mark.parametrize("defect", [Defect.NO_CLIPPING, Defect.NO_NOISE])
def test_broken_trainer_is_falsified_at_epsilon_1(defect):
    audit = _audit(defect, seed=0)
    assert audit.result.epsilon > 1.0, audit.result


def test_correct_trainer_is_not_falsified_in_19_of_20_seeds():
    falsified = [_audit(Defect.NONE, seed).result.epsilon > 1.0 for seed in range(20)]
    assert sum(falsified) <= 1, falsified
