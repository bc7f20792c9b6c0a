"""Confidence intervals and paired tests. Pure functions over arrays; seeded for reproducibility."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats as sps

from audit.results import Estimate

DEFAULT_RESAMPLES = 1000


def bootstrap_estimate(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
) -> Estimate:
    """Percentile bootstrap of `statistic(indices)` over `n` examples.

    The statistic receives an index array (the identity for the point estimate), so any
    function of several aligned arrays (labels, predictions, groups) can be bootstrapped.
    Resamples where the statistic is undefined (NaN) are dropped.
    """
    if n <= 0:
        raise ValueError("bootstrap_estimate needs at least one example")
    value = float(statistic(np.arange(n)))
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    for i in range(resamples):
        draws[i] = statistic(rng.integers(0, n, size=n))
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return Estimate(value=value, n=n, ci_method="bootstrap", confidence=confidence)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha])
    return Estimate(
        value=value, ci_low=float(low), ci_high=float(high), n=n,
        ci_method=f"percentile bootstrap ({resamples})", confidence=confidence,
    )


def bootstrap_mean(values: Sequence[float] | np.ndarray, *, seed: int = 0,
                   resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95,
                   scale: float = 1.0) -> Estimate:
    """Bootstrap CI of a mean; `scale` (e.g. 100 for %) multiplies value and bounds.

    Vectorised: all resamples are drawn as one matrix (fast for thousands of examples).
    """
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("bootstrap_mean needs at least one value")
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, size=(resamples, arr.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Estimate(
        value=float(arr.mean()) * scale, ci_low=float(low) * scale, ci_high=float(high) * scale,
        n=int(arr.size), ci_method=f"percentile bootstrap ({resamples})", confidence=confidence,
    )


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """Wilson score interval for a proportion (good coverage at small n and extreme p)."""
    if n <= 0:
        raise ValueError("wilson_interval needs n > 0")
    z = float(sps.norm.ppf(1 - (1 - confidence) / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Estimate(value=p, ci_low=max(0.0, centre - half), ci_high=min(1.0, centre + half),
                    n=n, ci_method="wilson", confidence=confidence)


@dataclass(frozen=True)
class PairedComparison:
    """Difference candidate − baseline on the same examples, with a CI and a p-value."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    test: str


def paired_bootstrap(baseline: Sequence[float], candidate: Sequence[float], *, seed: int = 0,
                     resamples: int = 2000, confidence: float = 0.95) -> PairedComparison:
    """Paired bootstrap of mean(candidate − baseline); two-sided p from the resampled sign."""
    a, b = np.asarray(baseline, float), np.asarray(candidate, float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("paired_bootstrap needs two non-empty arrays of the same length")
    diff = b - a
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(resamples, diff.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    centred = means - means.mean()
    p = float((np.abs(centred) >= abs(diff.mean())).mean()) if diff.any() else 1.0
    return PairedComparison(float(diff.mean()), float(low), float(high), p, int(diff.size),
                            "paired bootstrap")


def mcnemar(baseline_correct: Sequence[bool], candidate_correct: Sequence[bool]) -> PairedComparison:
    """Exact McNemar test on paired binary outcomes (binomial on the discordant pairs)."""
    a = np.asarray(baseline_correct, bool)
    b = np.asarray(candidate_correct, bool)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("mcnemar needs two non-empty arrays of the same length")
    only_a = int((a & ~b).sum())
    only_b = int((~a & b).sum())
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else float(sps.binomtest(only_b, discordant, 0.5).pvalue)
    diff = (only_b - only_a) / a.size
    # Wald interval for a difference of paired proportions.
    se = np.sqrt(max(discordant / a.size - diff * diff, 0.0) / a.size)
    return PairedComparison(diff, diff - 1.96 * se, diff + 1.96 * se, p, int(a.size), "exact McNemar")
