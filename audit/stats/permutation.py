"""Sign-flip permutation test on paired differences (Fisher's randomisation test of a mean difference).

Under H0 "the two paired measurements are exchangeable", each per-example difference is equally
likely to carry either sign, so the observed mean is compared with the means of every sign pattern.
Up to `EXACT_MAX_N` differences every one of the 2^n patterns is enumerated (an exact p-value, as
scipy.stats.permutation_test computes it); above that, `resamples` random patterns give the
Monte-Carlo p-value (b + 1) / (B + 1), which keeps the test's level exactly (Phipson & Smyth 2010).
The smallest p-value n differences can give is 2^-n (one-sided): below that n, no correction can be met.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

EXACT_MAX_N = 16
DEFAULT_SIGN_RESAMPLES = 20_000
Alternative = Literal["greater", "less", "two-sided"]


@dataclass(frozen=True)
class SignFlipResult:
    n: int
    mean: float             # observed mean difference
    p_value: float
    exact: bool             # True: every sign pattern enumerated
    patterns: int           # sign patterns the p-value is over


def _patterns(n: int) -> np.ndarray:
    """Every ±1 pattern of length n, as a (2^n, n) matrix."""
    codes = np.arange(2 ** n, dtype=np.int64)[:, None]
    bits = (codes >> np.arange(n, dtype=np.int64)[None, :]) & 1
    return 1.0 - 2.0 * bits


def _tail(null: np.ndarray, observed: float, alternative: Alternative) -> np.ndarray:
    tolerance = 1e-12 * max(1.0, abs(observed))   # ties of the observed pattern count as extreme
    if alternative == "greater":
        return null >= observed - tolerance
    if alternative == "less":
        return null <= observed + tolerance
    return np.abs(null) >= abs(observed) - tolerance


def sign_flip_test(differences: np.ndarray, alternative: Alternative = "greater", *, seed: int = 0,
                   resamples: int = DEFAULT_SIGN_RESAMPLES, exact_max_n: int = EXACT_MAX_N) -> SignFlipResult:
    """p-value of the mean of `differences` (NaNs dropped) against random sign flips."""
    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    n = int(d.size)
    if n == 0:
        return SignFlipResult(0, float("nan"), 1.0, True, 1)
    observed = float(d.mean())
    if n <= exact_max_n:
        null = _patterns(n) @ d / n
        return SignFlipResult(n, observed, float(_tail(null, observed, alternative).mean()), True, int(null.size))
    rng = np.random.default_rng(seed)
    hits, done = 0, 0
    while done < resamples:   # chunks keep the sign matrix small
        size = min(4096, resamples - done)
        signs = rng.integers(0, 2, size=(size, n)) * 2.0 - 1.0
        hits += int(_tail(signs @ d / n, observed, alternative).sum())
        done += size
    return SignFlipResult(n, observed, (hits + 1) / (resamples + 1), False, resamples)


def smallest_sign_flip_p(n: int, alternative: Alternative = "greater") -> float:
    """The smallest p-value a sign-flip test on n non-zero differences can reach."""
    if n <= 0:
        return 1.0
    return min(1.0, (2.0 if alternative == "two-sided" else 1.0) * 2.0 ** -n)


def min_n_for_level(level: float, alternative: Alternative = "greater") -> int:
    """The fewest differences whose sign-flip test can reach p <= level at all."""
    n = max(1, math.ceil(-math.log2(level)))
    while smallest_sign_flip_p(n, alternative) > level:
        n += 1
    return n
