"""One-sided paired tests of "the candidate is worse than the baseline by more than a tolerance".

Why: a regression check must flag a supported worsening beyond the tolerance, not a two-sided change
whose point estimate happens to exceed it. Each test takes per-example *worsenings* (or aligned 0/1
"good" outcomes, scores) on the same examples and tests H0: worse_by <= margin against worse_by > margin;
rejecting H0 flags a regression. None has a resampling floor on its p-value:
- exact McNemar for 0/1 outcomes (binomial on the discordant pairs; with a margin > 0, the asymptotic
  z test with Agresti & Min's adjusted standard error);
- the paired t test for means (scipy's ttest_1samp against the margin);
- paired DeLong (1988) for two ROC AUCs on the same members and non-members;
- a stratified paired bootstrap with adaptively many resamples for any other statistic (group gaps):
  resamples are added until enough land on the far side of the margin, and a tail beyond the
  largest resolution is read off the normal approximation with the bootstrap's standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats as sps

from audit.stats.intervals import DEFAULT_CONFIDENCE, z_value
from audit.stats.membership import paired_auc_difference

MIN_TAIL = 20            # bootstrap draws beyond the margin needed before the Monte-Carlo p-value is used
MAX_RESAMPLES = 64_000
BATCH = 2000             # resamples drawn at once (a (BATCH, n) index matrix bounds the memory)
EXACT_TOLERANCE = 1e-12   # a change without variation counts only beyond rounding error


@dataclass(frozen=True)
class WorseTest:
    """The estimated worsening (positive = worse) with a two-sided CI, and the one-sided p-value
    of H0 "worse by no more than `margin`"; `se` feeds the power calculation."""

    worse_by: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    test: str
    margin: float
    se: float
    discordant: float | None = None     # McNemar: the discordant-pair rate (for its power)
    confidence: float = DEFAULT_CONFIDENCE


def mcnemar_worse(baseline_good: Sequence[bool], candidate_good: Sequence[bool], margin: float = 0.0, *,
                  confidence: float = DEFAULT_CONFIDENCE) -> WorseTest:
    """worse_by = P(baseline good) − P(candidate good) on paired 0/1 outcomes.

    margin 0: exact one-sided McNemar, p = P(Bin(b + c, ½) >= b) with b the pairs only the baseline got
    right; margin > 0: z = (worse_by − margin) / SE_AM (Agresti & Min 2005, ½ added to each discordant cell).
    """
    a, c = np.asarray(baseline_good, bool), np.asarray(candidate_good, bool)
    if a.shape != c.shape or a.size == 0:
        raise ValueError("mcnemar_worse needs two non-empty arrays of the same length")
    n = a.size
    only_base, only_cand = int((a & ~c).sum()), int((~a & c).sum())
    worse = (only_base - only_cand) / n
    b_adj, c_adj, m = only_base + 0.5, only_cand + 0.5, n + 2.0
    se = math.sqrt(max((b_adj + c_adj) - (b_adj - c_adj) ** 2 / m, 0.0)) / m
    centre = (b_adj - c_adj) / m
    z = z_value(confidence)
    if margin == 0.0:
        disc = only_base + only_cand
        p = 1.0 if disc == 0 else float(sps.binomtest(only_base, disc, 0.5, alternative="greater").pvalue)
        name = "exact McNemar (one-sided)"
    else:
        p = float(sps.norm.sf((worse - margin) / se))
        name = "McNemar z against the tolerance (Agresti-Min SE, one-sided)"
    return WorseTest(worse, max(-1.0, centre - z * se), min(1.0, centre + z * se), p, n, name, margin, se,
                     discordant=(only_base + only_cand) / n, confidence=confidence)


def paired_t_worse(worsening: Sequence[float], margin: float = 0.0, *,
                   confidence: float = DEFAULT_CONFIDENCE) -> WorseTest:
    """Paired t test of mean(worsening) > margin (scipy.stats.ttest_1samp, alternative="greater")."""
    d = np.asarray(worsening, float)
    if d.size == 0:
        raise ValueError("paired_t_worse needs at least one example")
    mean, n = float(d.mean()), int(d.size)
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    se = sd / math.sqrt(n)
    if se <= EXACT_TOLERANCE:
        p = 0.0 if mean > margin + EXACT_TOLERANCE else 1.0
        return WorseTest(mean, mean, mean, p, n, "paired t (one-sided; no variation)", margin, 0.0,
                         confidence=confidence)
    p = float(sps.ttest_1samp(d, margin, alternative="greater").pvalue)
    half = float(sps.t.ppf((1 + confidence) / 2, n - 1)) * se
    return WorseTest(mean, mean - half, mean + half, p, n, "paired t (one-sided)", margin, se, confidence=confidence)


def delong_paired_worse(scores_baseline: Sequence[float], scores_candidate: Sequence[float],
                        is_member: Sequence[bool], margin: float = 0.0, *, higher_is_worse: bool = True,
                        confidence: float = DEFAULT_CONFIDENCE) -> WorseTest:
    """Paired DeLong test of two AUCs on the same members and non-members.

    Var(AUC_c − AUC_b) = Var(V10_c − V10_b)/m + Var(V01_c − V01_b)/n from the per-example placement
    values (DeLong, DeLong & Clarke-Pearson 1988). worse_by = ±(AUC_c − AUC_b) (`higher_is_worse`).
    """
    y = np.asarray(is_member, bool)
    paired = paired_auc_difference(scores_baseline, scores_candidate, y)
    worse = (1.0 if higher_is_worse else -1.0) * paired.difference
    se = paired.se
    if se <= EXACT_TOLERANCE:
        p = 0.0 if worse > margin + EXACT_TOLERANCE else 1.0
    else:
        p = float(sps.norm.sf((worse - margin) / se))
    z = z_value(confidence)
    return WorseTest(worse, worse - z * se, worse + z * se, p, int(y.size), "paired DeLong (one-sided)", margin, se,
                     confidence=confidence)


def adaptive_bootstrap_worse(worse_of: Callable[[np.ndarray], np.ndarray], n: int, observed: float,
                             margin: float = 0.0, *, strata: Sequence[str] | None = None, seed: int = 0,
                             resamples: int = 2000, confidence: float = DEFAULT_CONFIDENCE) -> WorseTest:
    """Paired (optionally stratified) bootstrap of a worsening statistic with adaptive resamples.

    `worse_of(index)` maps a (B, n) matrix of example indices (the same draw for both runs) to B
    worsenings. p = (k + 1)/(B + 1), k the draws at or below the margin (the percentile test); more
    resamples are drawn (in batches of BATCH) up to MAX_RESAMPLES while k < MIN_TAIL, after which the
    normal tail with the bootstrap SE is used, so the p-value has no 1/(B + 1) floor.
    """
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if strata is None else [np.flatnonzero(np.asarray(strata) == s)
                                                    for s in dict.fromkeys(strata)]
    draws: list[np.ndarray] = []
    total = 0
    batch = min(resamples, BATCH)
    while True:
        index = np.concatenate([g[rng.integers(0, g.size, size=(batch, g.size))] for g in groups], axis=1)
        values = np.asarray(worse_of(index), float)
        draws.append(values[np.isfinite(values)])
        total += batch
        pooled = np.concatenate(draws)
        k = int((pooled <= margin).sum())
        if (k >= MIN_TAIL or total >= MAX_RESAMPLES or observed <= margin) and total >= resamples:
            break
        batch = BATCH
    se = float(pooled.std(ddof=1)) if pooled.size > 1 else 0.0
    alpha = (1 - confidence) / 2
    low, high = (np.quantile(pooled, [alpha, 1 - alpha]) if pooled.size else (math.nan, math.nan))
    if observed <= margin:
        p = 1.0 if k == pooled.size else (k + 1) / (pooled.size + 1)
        name = f"paired bootstrap (B={pooled.size}, one-sided)"
    elif k >= MIN_TAIL or se == 0.0:
        p = (k + 1) / (pooled.size + 1) if se > 0 else 0.0
        name = f"paired bootstrap (B={pooled.size}, one-sided)"
    else:
        p = float(sps.norm.sf((observed - margin) / se))
        name = f"paired bootstrap (B={pooled.size}, normal tail beyond its resolution, one-sided)"
    return WorseTest(observed, float(low), float(high), float(min(p, 1.0)), n, name, margin, se,
                     confidence=confidence)
