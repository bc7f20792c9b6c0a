"""Confidence intervals and paired tests. Pure functions over arrays; seeded for reproducibility.

Which interval for what (binding for every suite):
- a proportion of independent 0/1 outcomes (accuracy, recall, a CrowS-Pairs share, a flip rate):
  the Wilson score interval (`wilson_interval` / `wilson_proportion`). A percentile bootstrap
  collapses to [1, 1] on a small or perfect group; Wilson does not (Brown, Cai & DasGupta 2001).
- a proportion over clustered outcomes (several counterfactual variants of one original): Wilson
  on the Kish effective sample size n / deff (`clustered_wilson`), so the interval widens for the
  correlation within clusters instead of pretending the pairs are independent.
- a mean or any other statistic (a log-prob gap, macro-F1, ECE, a BBQ bias score): the percentile
  bootstrap (`bootstrap_mean`, `bootstrap_estimate`); resamples where the statistic is undefined
  are counted in `Estimate.nan_share`, not silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats as sps

from audit.results import Estimate

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95


def z_value(confidence: float) -> float:
    """Two-sided standard-normal quantile for a confidence level (1.959964 at 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return float(sps.norm.ppf(1 - (1 - confidence) / 2))


def _percentile_bounds(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha])
    return float(low), float(high)


def bootstrap_estimate(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Estimate:
    """Percentile bootstrap of `statistic(indices)` over `n` examples.

    The statistic receives an index array (the identity for the point estimate), so any
    function of several aligned arrays (labels, predictions, groups) can be bootstrapped.
    Resamples where the statistic is undefined (NaN) are left out of the interval and their
    share is reported as `nan_share` (a large share means the CI describes few resamples).
    """
    if n <= 0:
        raise ValueError("bootstrap_estimate needs at least one example")
    value = float(statistic(np.arange(n)))
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    for i in range(resamples):
        draws[i] = statistic(rng.integers(0, n, size=n))
    finite = draws[np.isfinite(draws)]
    nan_share = 1.0 - finite.size / resamples
    method = f"percentile bootstrap ({resamples})"
    if finite.size == 0:
        return Estimate(value=value, n=n, ci_method=method, confidence=confidence, nan_share=nan_share)
    low, high = _percentile_bounds(finite, confidence)
    return Estimate(value=value, ci_low=low, ci_high=high, n=n, ci_method=method, confidence=confidence,
                    nan_share=nan_share)


def bootstrap_mean(values: Sequence[float] | np.ndarray, *, seed: int = 0,
                   resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                   scale: float = 1.0) -> Estimate:
    """Bootstrap CI of a mean of finite values; `scale` multiplies value and bounds.

    Vectorised: all resamples are drawn as one matrix (fast for thousands of examples).
    For a mean of 0/1 outcomes use `wilson_proportion` instead (it does not collapse).
    """
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("bootstrap_mean needs at least one value")
    if not np.isfinite(arr).all():
        raise ValueError("bootstrap_mean needs finite values (filter NaN first)")
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, size=(resamples, arr.size))].mean(axis=1)
    low, high = _percentile_bounds(means, confidence)
    return Estimate(
        value=float(arr.mean()) * scale, ci_low=low * scale, ci_high=high * scale, n=int(arr.size),
        ci_method=f"percentile bootstrap ({resamples})", confidence=confidence, nan_share=0.0,
    )


def _wilson_bounds(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score bounds for an observed share `p` of `n` (n may be an effective, non-integer size)."""
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # the Wilson interval always holds p; clamp so rounding cannot put 1e-17 above a share of 0
    return min(p, max(0.0, float(centre - half))), max(p, min(1.0, float(centre + half)))


def wilson_interval(successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """Wilson score interval for a proportion (good coverage at small n and extreme p)."""
    if n <= 0:
        raise ValueError("wilson_interval needs n > 0")
    if not 0 <= successes <= n:
        raise ValueError(f"wilson_interval needs 0 <= successes <= n, got {successes} of {n}")
    p = successes / n
    low, high = _wilson_bounds(p, n, z_value(confidence))
    return Estimate(value=p, ci_low=low, ci_high=high, n=n, ci_method="wilson", confidence=confidence)


def _binary(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError(f"{what} needs at least one outcome")
    if not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError(f"{what} needs 0/1 outcomes")
    return arr


def is_binary(values: Sequence[float] | np.ndarray) -> bool:
    """Whether every value is 0 or 1 (so its mean is a proportion)."""
    arr = np.asarray(values, dtype=float)
    return arr.size > 0 and bool(np.isin(arr, (0.0, 1.0)).all())


def wilson_proportion(outcomes: Sequence[float] | np.ndarray,
                      confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """Share of 1s among independent 0/1 outcomes, with its Wilson interval."""
    arr = _binary(outcomes, "wilson_proportion")
    return wilson_interval(int(arr.sum()), int(arr.size), confidence)


def kish_cluster_size_n(cluster_sizes: np.ndarray) -> float:
    """Kish's effective n when outcomes within a cluster are perfectly correlated: (Σm)² / Σm²."""
    sizes = np.asarray(cluster_sizes, dtype=float)
    return float(sizes.sum() ** 2 / (sizes ** 2).sum())


def design_effect(outcomes: np.ndarray, codes: np.ndarray) -> float:
    """Kish design effect of a clustered proportion: cluster-robust variance / simple-random variance.

    The cluster-robust (ratio-estimator) variance is C/(C−1) · Σ_c (y_c − p·m_c)² / (Σm)², with
    y_c the successes and m_c the size of cluster c. Floored at 1 (clustering never adds
    information) and capped at n / kish_cluster_size_n (the perfect-correlation worst case).
    NaN when it cannot be estimated (p is 0 or 1, or a single cluster).
    """
    sizes = np.bincount(codes).astype(float)
    hits = np.bincount(codes, weights=outcomes)
    n, clusters = float(sizes.sum()), sizes.size
    p = hits.sum() / n
    if clusters < 2 or p in (0.0, 1.0):
        return float("nan")
    robust = clusters / (clusters - 1) * ((hits - p * sizes) ** 2).sum() / n ** 2
    simple = p * (1 - p) / n
    return float(np.clip(robust / simple, 1.0, n / kish_cluster_size_n(sizes)))


def clustered_wilson(outcomes: Sequence[float] | np.ndarray, clusters: Sequence[str],
                     confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """Wilson interval of a proportion whose outcomes come in correlated clusters (n = outcomes).

    The interval uses the effective sample size n / deff (`design_effect`). Where deff cannot be
    estimated (every outcome 0, or every outcome 1), the worst case is assumed: n_eff = (Σm)²/Σm²,
    Kish's effective n for perfectly correlated clusters, so a group without a single flip keeps a
    conservative upper bound (independence would under-cover when flips come in whole clusters).
    The price: with one or two events the estimated deff is near 1, so the interval can be
    narrower than with none; it is still never the degenerate [0, 0] of a percentile bootstrap.
    """
    arr = _binary(outcomes, "clustered_wilson")
    if len(clusters) != arr.size:
        raise ValueError(f"{arr.size} outcomes but {len(clusters)} cluster labels")
    lookup: dict[str, int] = {}
    codes = np.array([lookup.setdefault(c, len(lookup)) for c in clusters], dtype=np.int64)
    deff = design_effect(arr, codes)
    sizes = np.bincount(codes)
    n_eff = arr.size / deff if np.isfinite(deff) else kish_cluster_size_n(sizes)
    p = float(arr.mean())
    low, high = _wilson_bounds(p, n_eff, z_value(confidence))
    return Estimate(value=p, ci_low=low, ci_high=high, n=int(arr.size), confidence=confidence,
                    ci_method=f"wilson, design-effect adjusted (n_eff {n_eff:.1f} from {len(lookup)} clusters)")


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
    low, high = _percentile_bounds(means, confidence)
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
    low, high = _percentile_bounds(draws, confidence)
    if np.array_equal(a, b):
        p = 1.0
    else:
        p = bootstrap_p_value(int((np.abs(draws - observed) >= abs(observed)).sum()), resamples)
    return PairedComparison(observed, low, high, p, int(a.size), "paired bootstrap (distance from ideal)",
                            confidence)
