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


def percentile_bounds(draws: np.ndarray, confidence: float) -> tuple[float, float]:
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
    low, high = percentile_bounds(finite, confidence)
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
    low, high = percentile_bounds(means, confidence)
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


def clopper_pearson(k: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Exact two-sided binomial interval: guaranteed coverage, which an audit claim needs."""
    alpha = 1.0 - confidence
    low = 0.0 if k == 0 else float(sps.beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(sps.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


def clopper_pearson_upper(k: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """One-sided Clopper–Pearson upper bounds (P[true rate > bound] ≤ alpha), vectorised over k."""
    k = np.asarray(k)
    safe = np.minimum(k, n - 1)
    return np.where(k >= n, 1.0, sps.beta.ppf(1 - alpha, safe + 1, n - safe))
