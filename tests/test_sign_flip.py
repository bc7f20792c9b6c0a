"""The sign-flip permutation test against scipy.stats.permutation_test (an independent implementation)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import permutation_test

from audit.stats import min_n_for_level, sign_flip_test, smallest_sign_flip_p


def _scipy_p(d: np.ndarray, alternative: str) -> float:
    result = permutation_test((d,), np.mean, permutation_type="samples", alternative=alternative,
                              n_resamples=np.inf)
    return float(result.pvalue)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_exact_p_matches_scipy(seed, alternative):
    rng = np.random.default_rng(seed)
    d = rng.normal(0.3, 1.0, size=9)
    ours = sign_flip_test(d, alternative)
    assert ours.exact and ours.patterns == 2 ** 9
    assert ours.p_value == pytest.approx(_scipy_p(d, alternative), abs=1e-12)


def test_monte_carlo_p_is_close_to_the_exact_one_and_valid():
    rng = np.random.default_rng(7)
    d = rng.normal(0.2, 1.0, size=14)
    exact = sign_flip_test(d).p_value
    sampled = sign_flip_test(d, exact_max_n=4, resamples=40_000, seed=1)
    assert not sampled.exact and sampled.p_value == pytest.approx(exact, abs=0.01)
    # under H0 (symmetric differences) the level holds: rejections at 5% are about 5%
    rejections = [sign_flip_test(rng.normal(0, 1, 30), resamples=999, seed=s).p_value <= 0.05 for s in range(300)]
    assert np.mean(rejections) < 0.09


def test_planted_shift_is_found_and_the_null_control_is_not():
    rng = np.random.default_rng(3)
    assert sign_flip_test(rng.normal(0.5, 1.0, 50), seed=0).p_value < 0.01
    assert sign_flip_test(rng.normal(0.0, 1.0, 50), seed=0).p_value > 0.05


def test_smallest_p_and_needed_n():
    assert smallest_sign_flip_p(5) == 2 ** -5 and smallest_sign_flip_p(5, "two-sided") == 2 ** -4
    assert sign_flip_test(np.ones(5)).p_value == pytest.approx(2 ** -5)
    assert min_n_for_level(0.01) == 7 and min_n_for_level(0.05 / 5) == 7 and min_n_for_level(0.05) == 5
    assert sign_flip_test([]).n == 0 and sign_flip_test([]).p_value == 1.0
