"""ε lower bound from many independent training runs (Jagielski et al. 2020; Nasr et al. 2021).

Each run is trained with or without a canary; an attack scores every final model (higher = "the
canary was in"). Any (ε, δ)-DP mechanism forces FPR + e^ε·FNR ≥ 1 − δ and FNR + e^ε·FPR ≥ 1 − δ
for every test. The runs are independent, so the false positives among n_out canary-free runs and
the false negatives among n_in canary runs are binomial: one-sided Clopper–Pearson upper bounds at
α/2 each give ε ≥ ln((1 − δ − FPR⁺)/FNR⁺) with probability ≥ 1 − α.

The threshold (and which side) is chosen on a calibration share of the runs and applied to the
rest, so the bound pays no multiplicity. With zero errors on n held-out runs per arm the most a
design can prove is ln((1 − δ − U₀(n_out))/U₀(n_in)), U₀(n) = 1 − (α/2)^(1/n): about ln(n) − 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from audit.stats.intervals import DEFAULT_CONFIDENCE, clopper_pearson_upper


@dataclass(frozen=True)
class RunAudit:
    epsilon: float                 # lower bound at `confidence` (0 when nothing is shown)
    max_provable: float            # the most this design could prove (no errors at all)
    threshold: float
    side: str                      # "high": score >= threshold means "in"; "low": score <= threshold
    false_positives: int
    false_negatives: int
    n_in: int                      # held-out runs with the canary
    n_out: int                     # held-out runs without it
    n_calibration: int
    delta: float
    confidence: float


def epsilon_bound(fp: np.ndarray, n_out: int, fn: np.ndarray, n_in: int, delta: float,
                  confidence: float = DEFAULT_CONFIDENCE) -> np.ndarray:
    """ε lower bound(s) from error counts: both DP inequalities, Clopper–Pearson at α/2 on each count."""
    alpha = (1.0 - confidence) / 2
    fpr = clopper_pearson_upper(np.asarray(fp), n_out, alpha)
    fnr = clopper_pearson_upper(np.asarray(fn), n_in, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(np.clip(1.0 - delta - fpr, 0, None)) - np.log(fnr)
        b = np.log(np.clip(1.0 - delta - fnr, 0, None)) - np.log(fpr)
    best = np.fmax(a, b)
    return np.maximum(np.where(np.isnan(best), 0.0, best), 0.0)


def max_provable_epsilon(n_in: int, n_out: int, delta: float, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """The bound when the attack makes no error on any held-out run: the ceiling of the design."""
    return float(epsilon_bound(np.array(0), n_out, np.array(0), n_in, delta, confidence))


def calibration_split(n: int, share: float) -> int:
    return min(max(1, int(round(n * share))), n - 1)


def _errors(scores_in: np.ndarray, scores_out: np.ndarray, thresholds: np.ndarray, side: str) -> tuple:
    s_in, s_out = np.sort(scores_in), np.sort(scores_out)
    if side == "high":      # "in" when score >= t
        fn = np.searchsorted(s_in, thresholds, side="left")
        fp = s_out.size - np.searchsorted(s_out, thresholds, side="left")
    else:                   # "in" when score <= t
        fn = s_in.size - np.searchsorted(s_in, thresholds, side="right")
        fp = np.searchsorted(s_out, thresholds, side="right")
    return fp, fn


def audit_runs(scores_in: np.ndarray, scores_out: np.ndarray, delta: float, *,
               confidence: float = DEFAULT_CONFIDENCE, calibration_share: float = 0.5) -> RunAudit:
    """The audit: runs in given (random, secret) order; the first `calibration_share` of each arm
    chooses the threshold that would give the largest bound at the held-out sizes, the rest bound ε."""
    s_in, s_out = np.asarray(scores_in, float), np.asarray(scores_out, float)
    if s_in.size < 2 or s_out.size < 2:
        raise ValueError("need at least 2 runs per arm")
    if not (np.isfinite(s_in).all() and np.isfinite(s_out).all()):
        raise ValueError("scores must be finite")
    c_in, c_out = calibration_split(s_in.size, calibration_share), calibration_split(s_out.size, calibration_share)
    cal_in, hold_in, cal_out, hold_out = s_in[:c_in], s_in[c_in:], s_out[:c_out], s_out[c_out:]
    pooled = np.unique(np.r_[cal_in, cal_out])
    # midpoints between neighbouring calibration scores (and beyond both ends): a threshold in the
    # middle of a gap generalises to the held-out runs better than one on a calibration score
    thresholds = np.r_[pooled[0] - 1.0, (pooled[:-1] + pooled[1:]) / 2, pooled[-1] + 1.0]
    best = (-1.0, thresholds[0], "high")
    for side in ("high", "low"):
        fp, fn = _errors(cal_in, cal_out, thresholds, side)
        # rescale the calibration error rates to the held-out sizes before bounding
        bound = epsilon_bound(np.round(fp * hold_out.size / c_out), hold_out.size,
                              np.round(fn * hold_in.size / c_in), hold_in.size, delta, confidence)
        i = int(np.argmax(bound))
        if bound[i] > best[0]:
            best = (float(bound[i]), float(thresholds[i]), side)
    _, threshold, side = best
    fp, fn = _errors(hold_in, hold_out, np.array([threshold]), side)
    eps = float(epsilon_bound(fp, hold_out.size, fn, hold_in.size, delta, confidence)[0])
    return RunAudit(epsilon=eps, max_provable=max_provable_epsilon(hold_in.size, hold_out.size, delta, confidence),
                    threshold=threshold, side=side, false_positives=int(fp[0]), false_negatives=int(fn[0]),
                    n_in=int(hold_in.size), n_out=int(hold_out.size), n_calibration=c_in + c_out,
                    delta=delta, confidence=confidence)


def gaussian_power(shift: float, runs_per_arm: int, claimed: float, delta: float, *, draws: int = 400,
                   confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> float:
    """P(the audit proves ε > claimed) when the attack score is N(0, 1) without and N(shift, 1) with the
    canary, by simulating `draws` audits of `runs_per_arm` runs per arm (a planning approximation)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(draws):
        found = audit_runs(rng.normal(shift, 1.0, runs_per_arm), rng.normal(0.0, 1.0, runs_per_arm), delta,
                           confidence=confidence)
        hits += found.epsilon > claimed
    return hits / draws


def expected_bound(shift: float, runs_per_arm: int, delta: float, *,
                   confidence: float = DEFAULT_CONFIDENCE) -> float:
    """The bound at the expected error counts (≈ the median audit) of the Gaussian model, best threshold,
    half the runs held out: the planning number for designs too large to simulate."""
    held = runs_per_arm // 2
    t = np.linspace(-2.0, shift + 8.0, 2001)
    fp, fn = np.round(held * norm.sf(t)), np.round(held * norm.cdf(t - shift))
    return float(epsilon_bound(fp, held, fn, held, delta, confidence).max())


def runs_needed(shift: float, claimed: float, delta: float, *, limit: int = 10 ** 12,
                confidence: float = DEFAULT_CONFIDENCE) -> int | None:
    """Smallest runs per arm (doubling from 100) whose expected bound exceeds `claimed` in the
    Gaussian model, or None when even `limit` runs per arm do not."""
    n = 100
    while n <= limit:
        if expected_bound(shift, n, delta, confidence=confidence) > claimed:
            return n
        n *= 2
    return None


def standardised_shift(scores_in: np.ndarray, scores_out: np.ndarray) -> float:
    """(mean in − mean out) / pooled sd: the separation a Gaussian model of the attack sees."""
    s_in, s_out = np.asarray(scores_in, float), np.asarray(scores_out, float)
    sd = math.sqrt((s_in.var(ddof=1) + s_out.var(ddof=1)) / 2)
    return abs(float(s_in.mean() - s_out.mean())) / sd if sd > 0 else math.inf
