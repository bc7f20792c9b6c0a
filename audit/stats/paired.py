"""Paired tests of a change on the same examples: exact McNemar (0/1), paired bootstrap (means, distances)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as sps

from audit.stats.intervals import DEFAULT_CONFIDENCE, percentile_bounds, z_value


@dataclass(frozen=True)
class PairedComparison:
    """Difference candidate − baseline on the same examples, with a CI and a p-value."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    test: str
    confidence: float = DEFAULT_CONFIDENCE


def bootstrap_p_value(exceedances: int, resamples: int) -> float:
    """(k + 1) / (B + 1): a Monte-Carlo p-value is never exactly 0 (Davison & Hinkley 1997, §4.2)."""
    return (exceedances + 1) / (resamples + 1)


def paired_bootstrap(baseline: Sequence[float], candidate: Sequence[float], *, seed: int = 0,
                     resamples: int = 2000, confidence: float = DEFAULT_CONFIDENCE) -> PairedComparison:
    """Paired bootstrap of mean(candidate − baseline).

    The two-sided p-value comes from the resampled means shifted to the null (centred on 0):
    k = resamples with |mean* − mean| ≥ |mean|, p = (k + 1) / (B + 1).
    """
    a, b = np.asarray(baseline, float), np.asarray(candidate, float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("paired_bootstrap needs two non-empty arrays of the same length")
    diff = b - a
    observed = float(diff.mean())
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, size=(resamples, diff.size))].mean(axis=1)
    low, high = percentile_bounds(means, confidence)
    if not diff.any():
        p = 1.0
    else:
        p = bootstrap_p_value(int((np.abs(means - observed) >= abs(observed)).sum()), resamples)
    return PairedComparison(observed, low, high, p, int(diff.size), "paired bootstrap", confidence)


def mcnemar(baseline_correct: Sequence[bool], candidate_correct: Sequence[bool], *,
            confidence: float = DEFAULT_CONFIDENCE) -> PairedComparison:
    """Exact McNemar test on paired binary outcomes (binomial on the discordant pairs).

    The CI of the difference of paired proportions is Agresti & Min's (2005) adjusted Wald
    interval (½ added to each cell of the 2×2 table) at `confidence`: it does not collapse
    to a point when there are no discordant pairs, as the plain Wald interval does.
    """
    a = np.asarray(baseline_correct, bool)
    b = np.asarray(candidate_correct, bool)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("mcnemar needs two non-empty arrays of the same length")
    only_a = int((a & ~b).sum())
    only_b = int((~a & b).sum())
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else float(sps.binomtest(only_b, discordant, 0.5).pvalue)
    n = a.size
    diff = (only_b - only_a) / n
    low, high = agresti_min_interval(only_a, only_b, n, confidence)
    return PairedComparison(diff, low, high, p, int(n), "exact McNemar", confidence)


def agresti_min_interval(only_baseline: int, only_candidate: int, n: int,
                         confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Adjusted Wald CI of p_candidate − p_baseline for paired 0/1 outcomes (Agresti & Min 2005)."""
    b, c, m = only_baseline + 0.5, only_candidate + 0.5, n + 2.0
    centre = (c - b) / m
    se = np.sqrt(max((b + c) - (c - b) ** 2 / m, 0.0)) / m
    z = z_value(confidence)
    return max(-1.0, float(centre - z * se)), min(1.0, float(centre + z * se))


def paired_bootstrap_distance(baseline: Sequence[float], candidate: Sequence[float], ideal: float, *,
                              seed: int = 0, resamples: int = 2000,
                              confidence: float = DEFAULT_CONFIDENCE) -> PairedComparison:
    """Paired bootstrap of the change in distance from an ideal value:
    |mean(candidate) − ideal| − |mean(baseline) − ideal| (positive = further from the ideal).

    For metrics whose best value is a target (CrowS-Pairs 0.5, a bias score 0): a move from 0.55
    to 0.45 is no regression, which a test of the plain difference would call one. The same
    example indices are drawn for both runs; p = (k + 1) / (B + 1) with k the resampled changes at
    least as far from the observed one as the observed one is from 0 (shifted to the null).
    """
    a, b = np.asarray(baseline, float), np.asarray(candidate, float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("paired_bootstrap_distance needs two non-empty arrays of the same length")
    observed = float(abs(b.mean() - ideal) - abs(a.mean() - ideal))
    rng = np.random.default_rng(seed)
    index = rng.integers(0, a.size, size=(resamples, a.size))
    draws = np.abs(b[index].mean(axis=1) - ideal) - np.abs(a[index].mean(axis=1) - ideal)
    low, high = percentile_bounds(draws, confidence)
    if np.array_equal(a, b):
        p = 1.0
    else:
        p = bootstrap_p_value(int((np.abs(draws - observed) >= abs(observed)).sum()), resamples)
    return PairedComparison(observed, low, high, p, int(a.size), "paired bootstrap (distance from ideal)",
                            confidence)
