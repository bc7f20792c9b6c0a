"""Membership-inference attack evaluation: ROC, AUC with a DeLong CI, TPR at a low FPR, empirical ε.

Convention everywhere: `scores` are higher for "more likely a member", and a threshold t predicts
"member" for every score ≥ t (sklearn's). Pure functions of numpy arrays; no resampling, so results
are exact and deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as sps

from audit.results import Estimate
from audit.stats.intervals import DEFAULT_CONFIDENCE, clopper_pearson, clopper_pearson_upper, z_value

ArrayLike = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class RocPoints:
    """ROC at every distinct threshold (highest first; the first threshold is +inf: nobody is flagged)."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


@dataclass(frozen=True)
class AucResult:
    auc: Estimate  # ci from DeLong's variance, n = members + non-members
    n_members: int
    n_nonmembers: int


@dataclass(frozen=True)
class TprAtFpr:
    tpr: Estimate  # Clopper–Pearson CI over the n members
    target_fpr: float
    achieved_fpr: float
    threshold: float
    n_members: int
    n_nonmembers: int


@dataclass(frozen=True)
class EmpiricalEpsilon:
    epsilon: float  # lower bound at `confidence` (0 when nothing can be shown)
    threshold: float | None  # the threshold achieving it (None when the bound is 0)
    n_thresholds: int  # T, the number of thresholds tried (the Bonferroni factor)
    point_estimate: float  # same formula on raw FPR/FNR, no confidence bound (may be inf)
    delta: float
    confidence: float
    n_members: int
    n_nonmembers: int


def _split(scores: ArrayLike, is_member: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float)
    y = np.asarray(is_member, dtype=bool)
    if s.ndim != 1 or s.shape != y.shape:
        raise ValueError(f"scores and is_member must be 1-d and aligned, got {s.shape} and {y.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    if y.all() or not y.any():
        raise ValueError("need at least one member and one non-member")
    return s[y], s[~y]


def roc_points(scores: ArrayLike, is_member: ArrayLike) -> RocPoints:
    """FPR/TPR at every distinct threshold; equals sklearn's roc_curve(..., drop_intermediate=False)."""
    members, nonmembers = _split(scores, is_member)
    s = np.asarray(scores, dtype=float)
    y = np.asarray(is_member, dtype=bool)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each run of equal scores
    tps = np.cumsum(y)[last]
    fps = last + 1 - tps
    return RocPoints(fpr=np.r_[0, fps] / nonmembers.size, tpr=np.r_[0, tps] / members.size,
                     thresholds=np.r_[np.inf, s[last]])


def _midranks(x: np.ndarray) -> np.ndarray:
    return sps.rankdata(x, method="average")


def auc_with_ci(scores: ArrayLike, is_member: ArrayLike,
                confidence: float = DEFAULT_CONFIDENCE) -> AucResult:
    """AUC (ties count ½) with DeLong's CI, computed by Sun & Xu's (2014) fast midrank algorithm.

    DeLong's variance is the nonparametric U-statistic variance: no resampling, O(n log n), and
    the usual MIA-paper interval. The normal interval is clipped to [0, 1]; it needs ≥ 2 of each
    class (with one, the structural-component variance is undefined and no CI is given).
    """
    x, y = _split(scores, is_member)
    m, n = x.size, y.size
    tz = _midranks(np.r_[x, y])
    v10 = (tz[:m] - _midranks(x)) / n  # placement of each member among the non-members
    v01 = 1.0 - (tz[m:] - _midranks(y)) / m
    auc = float(v10.mean())
    low = high = None
    if m >= 2 and n >= 2:
        se = float(np.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n))
        half = z_value(confidence) * se
        low, high = max(0.0, auc - half), min(1.0, auc + half)
    estimate = Estimate(value=auc, ci_low=low, ci_high=high, n=m + n, confidence=confidence,
                        ci_method="DeLong (Sun & Xu fast algorithm)")
    return AucResult(auc=estimate, n_members=m, n_nonmembers=n)


def tpr_at_fpr(scores: ArrayLike, is_member: ArrayLike, fpr: float,
               confidence: float = DEFAULT_CONFIDENCE) -> TprAtFpr:
    """TPR at the operating point with the largest empirical FPR not above `fpr` (Carlini et al. 2022).

    That is the lowest threshold whose FPR ≤ target, hence the best TPR within the FPR budget; no
    interpolation, so the reported point is one an attacker can actually use. Low-FPR TPRs rest on
    few members' and non-members' scores, so the Clopper–Pearson interval (n = members) is exact.
    """
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must be in [0, 1], got {fpr}")
    members, nonmembers = _split(scores, is_member)
    n_members, n_non = members.size, nonmembers.size
    roc = roc_points(scores, is_member)
    i = int(np.flatnonzero(roc.fpr <= fpr + 1e-12)[-1])  # FPR is non-decreasing; index 0 has FPR 0
    k = int(round(roc.tpr[i] * n_members))
    low, high = clopper_pearson(k, n_members, confidence)
    estimate = Estimate(value=k / n_members, ci_low=low, ci_high=high, n=n_members,
                        confidence=confidence, ci_method="clopper-pearson")
    return TprAtFpr(tpr=estimate, target_fpr=fpr, achieved_fpr=float(roc.fpr[i]),
                    threshold=float(roc.thresholds[i]), n_members=n_members, n_nonmembers=n_non)


def candidate_thresholds(scores: ArrayLike, max_thresholds: int) -> np.ndarray:
    """Up to `max_thresholds` distinct quantiles (levels 0..1, evenly spaced) of the pooled scores.

    Label-free, so choosing them does not peek at membership; fewer thresholds mean a milder
    Bonferroni penalty, and quantiles spread them where the scores actually are.
    """
    if max_thresholds < 1:
        raise ValueError("max_thresholds must be ≥ 1")
    pooled = np.asarray(scores, dtype=float)
    return np.unique(np.quantile(pooled, np.linspace(0.0, 1.0, max_thresholds), method="lower"))


def _epsilon_curve(fpr: np.ndarray, fnr: np.ndarray, delta: float) -> np.ndarray:
    """max(ln((1−δ−FPR)/FNR), ln((1−δ−FNR)/FPR)) per threshold (−inf where undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(1.0 - delta - fpr) - np.log(fnr)
        b = np.log(1.0 - delta - fnr) - np.log(fpr)
    best = np.fmax(a, b)
    return np.where(np.isnan(best), -np.inf, best)


def empirical_epsilon(scores: ArrayLike, is_member: ArrayLike, delta: float,
                      confidence: float = DEFAULT_CONFIDENCE, max_thresholds: int = 100) -> EmpiricalEpsilon:
    """High-confidence lower bound on ε from an attack's ROC (Kairouz et al. 2015; Jagielski et al. 2020).

    Any (ε, δ)-DP mechanism forces FPR + e^ε·FNR ≥ 1 − δ (and symmetrically) for every test, so
    ε ≥ ln((1 − δ − FPR)/FNR). Replacing FPR and FNR by one-sided Clopper–Pearson upper bounds at
    level α/(2T) — two bounds per threshold, T thresholds tried, α = 1 − confidence — makes every
    bound hold at once with probability ≥ 1 − α (Bonferroni), so the max over thresholds is a valid
    lower bound at `confidence`. Thresholds: `candidate_thresholds` (pooled-score quantiles).
    For a fully rigorous audit pick the thresholds on held-out scores; here they are label-free.
    """
    if not 0.0 <= delta < 1.0:
        raise ValueError(f"delta must be in [0, 1), got {delta}")
    members, nonmembers = _split(scores, is_member)
    thresholds = candidate_thresholds(scores, max_thresholds)
    t = thresholds.size
    fp = nonmembers.size - np.searchsorted(np.sort(nonmembers), thresholds, side="left")
    fn = np.searchsorted(np.sort(members), thresholds, side="left")
    level = (1.0 - confidence) / (2 * t)
    bound = _epsilon_curve(clopper_pearson_upper(fp, nonmembers.size, level),
                           clopper_pearson_upper(fn, members.size, level), delta)
    point = _epsilon_curve(fp / nonmembers.size, fn / members.size, delta)
    best = int(np.argmax(bound))
    epsilon = max(0.0, float(bound[best]))
    return EmpiricalEpsilon(epsilon=epsilon, threshold=float(thresholds[best]) if epsilon > 0 else None,
                            n_thresholds=int(t), point_estimate=max(0.0, float(point.max())), delta=delta,
                            confidence=confidence, n_members=members.size, n_nonmembers=nonmembers.size)


def min_nonmembers(fpr: float) -> int:
    """Non-members needed before TPR at `fpr` is reported: 10 / fpr (ten false positives expected
    at the operating point, so the threshold does not rest on one or two non-members)."""
    return int(math.ceil(10.0 / fpr - 1e-9))


def tpr_at_fpr_bootstrap(scores: ArrayLike, is_member: ArrayLike, fpr: float,
                         confidence: float = DEFAULT_CONFIDENCE, resamples: int = 1000,
                         seed: int = 0) -> tuple[float, float]:
    """Percentile CI of TPR at `fpr` that covers the threshold's own uncertainty: members and
    non-members are resampled separately (stratified bootstrap) and the threshold is re-chosen
    from each resample's non-members, so both classes' sampling error enters the interval."""
    members, nonmembers = _split(scores, is_member)
    rng = np.random.default_rng(seed)
    k = int(math.floor(fpr * nonmembers.size + 1e-9))       # false positives allowed at the operating point
    out = np.empty(resamples)
    for lo in range(0, resamples, 100):
        b = min(100, resamples - lo)
        non = np.sort(rng.choice(nonmembers, size=(b, nonmembers.size)), axis=1)[:, ::-1]
        cut = non[:, k] if k < nonmembers.size else np.full(b, -np.inf)   # flag scores above the (k+1)-th largest
        mem = rng.choice(members, size=(b, members.size))
        out[lo:lo + b] = (mem > cut[:, None]).mean(axis=1)
    alpha = 1.0 - confidence
    low, high = np.quantile(out, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)
def delong_components(scores: ArrayLike, is_member: ArrayLike) -> tuple[np.ndarray, np.ndarray, float]:
    """DeLong's structural components: (V10 per member, V01 per non-member, AUC), in input order.

    V10 is a member's placement among the non-members and V01 a non-member's among the members
    (ties ½); their means are the AUC. Two runs' components on the same examples give the paired
    DeLong variance of an AUC difference (`paired_auc_difference`).
    """
    x, y = _split(scores, is_member)
    m, n = x.size, y.size
    tz = _midranks(np.r_[x, y])
    v10 = (tz[:m] - _midranks(x)) / n
    v01 = 1.0 - (tz[m:] - _midranks(y)) / m
    return v10, v01, float(v10.mean())


@dataclass(frozen=True)
class PairedAuc:
    difference: float    # AUC_candidate − AUC_baseline
    se: float            # paired DeLong standard error of the difference
    p_value: float       # two-sided, normal
    n_members: int
    n_nonmembers: int


def paired_auc_difference(scores_baseline: ArrayLike, scores_candidate: ArrayLike,
                          is_member: ArrayLike) -> PairedAuc:
    """Paired DeLong test of two AUCs on the same members and non-members (DeLong et al. 1988):
    Var = Var(V10_c − V10_b)/m + Var(V01_c − V01_b)/n."""
    b10, b01, auc_b = delong_components(scores_baseline, is_member)
    c10, c01, auc_c = delong_components(scores_candidate, is_member)
    d10, d01 = c10 - b10, c01 - b01
    var = (d10.var(ddof=1) / d10.size if d10.size > 1 else 0.0) + (d01.var(ddof=1) / d01.size if d01.size > 1 else 0.0)
    se = float(np.sqrt(max(var, 0.0)))
    diff = auc_c - auc_b
    p = (1.0 if diff == 0 else 0.0) if se == 0 else float(2 * sps.norm.sf(abs(diff) / se))
    return PairedAuc(diff, se, p, d10.size, d01.size)
