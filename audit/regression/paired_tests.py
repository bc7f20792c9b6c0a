"""Pick and run the one-sided paired test of one metric's worsening from two runs' per-example outcomes.

The statistic comes from `Outcomes.statistic`: a mean (0/1 outcomes: exact McNemar, whatever the
metric's ideal; other values: the paired t test), an AUC (paired DeLong) or a group gap (a paired
bootstrap within groups with adaptive resamples). For a metric with an `ideal` the tested worsening is
the change in distance from it, written as a mean of per-example values:
|m_c − I| − |m_b − I| = mean(s_c·(c_i − I) − s_b·(b_i − I)) with s the side of I each run's mean is on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from audit.results import STAT_AUC, STAT_EO_GAP, STAT_MAX_GAP, STAT_MEAN, Direction, Metric, Outcomes
from audit.stats import is_binary
from audit.stats.membership import delong_components
from audit.stats.disparity import eligible_groups, eo_gap, group_codes, max_gap
from audit.stats.noninferiority import (EXACT_TOLERANCE, WorseTest, adaptive_bootstrap_worse, delong_paired_worse, mcnemar_worse,
                                        paired_t_worse)
from audit.stats.power import mde_normal, mde_paired_proportions


@dataclass(frozen=True)
class Aligned:
    """The examples both runs share, in the baseline's order."""

    ids: list[str]
    baseline: np.ndarray
    candidate: np.ndarray
    labels: np.ndarray | None
    strata: list[str] | None


@dataclass(frozen=True)
class Tested:
    baseline: float
    candidate: float
    difference: float          # candidate − baseline (directed) or the change in distance from the ideal
    ci_low: float
    ci_high: float
    test: WorseTest
    planning_se: float | None  # SE for the power calculation (None: McNemar, which uses its discordant rate)


def seed_of(seed: int, *keys: object) -> int:
    return int.from_bytes(hashlib.sha256(repr((seed,) + keys).encode()).digest()[:4], "little")


def align(base: Outcomes, cand: Outcomes) -> Aligned | None:
    """Shared example ids with finite values (and equal labels / strata, which are facts of the example)."""
    index = {i: k for k, i in enumerate(cand.example_ids)}
    rows = []
    for k, example in enumerate(base.example_ids):
        j = index.get(example)
        if j is None or not (np.isfinite(base.values[k]) and np.isfinite(cand.values[j])):
            continue
        if base.labels is not None and cand.labels is not None and base.labels[k] != cand.labels[j]:
            continue
        if base.strata is not None and cand.strata is not None and base.strata[k] != cand.strata[j]:
            continue
        rows.append((k, j))
    if not rows:
        return None
    ks, js = [r[0] for r in rows], [r[1] for r in rows]
    labels = np.array([base.labels[k] for k in ks], float) if base.labels is not None else None
    strata = [base.strata[k] for k in ks] if base.strata is not None else None
    return Aligned([base.example_ids[k] for k in ks], np.array([base.values[k] for k in ks], float),
                   np.array([cand.values[j] for j in js], float), labels, strata)


def _side(mean: float, ideal: float, fallback: float = 1.0) -> float:
    return float(np.sign(mean - ideal)) or fallback


def _mean_test(data: Aligned, direction: Direction, ideal: float | None, margin: float, confidence: float) -> Tested:
    a, b = data.baseline, data.candidate
    ma, mb = float(a.mean()), float(b.mean())
    binary = is_binary(a) and is_binary(b)
    if direction == "ideal":
        assert ideal is not None
        s_a = _side(ma, ideal, _side(mb, ideal))
        s_b = _side(mb, ideal, s_a)
        worsening = s_b * (b - ideal) - s_a * (a - ideal)
        if binary and s_a == s_b:
            good_a, good_b = (a < 0.5, b < 0.5) if s_a > 0 else (a > 0.5, b > 0.5)
            test = mcnemar_worse(good_a, good_b, margin, confidence=confidence)
        else:
            test = paired_t_worse(worsening, margin, confidence=confidence)
        return Tested(ma, mb, test.worse_by, test.ci_low, test.ci_high, test, _planning_se(test, a))
    sign = -1.0 if direction == "higher" else 1.0          # "none": shown as an increase, never gated
    if binary:
        good_a, good_b = (a > 0.5, b > 0.5) if direction == "higher" else (a < 0.5, b < 0.5)
        test = mcnemar_worse(good_a, good_b, margin, confidence=confidence)
    else:
        test = paired_t_worse(sign * (b - a), margin, confidence=confidence)
    low, high = (-test.ci_high, -test.ci_low) if sign < 0 else (test.ci_low, test.ci_high)
    return Tested(ma, mb, mb - ma, low, high, test, None if binary else _planning_se(test, a))


def _planning_se(test: WorseTest, baseline: np.ndarray) -> float | None:
    """The observed SE of the change, or (two identical runs: 0) the SE of the baseline's own mean."""
    if test.discordant is not None:
        return None
    if test.se > 0:
        return test.se
    sd = float(baseline.std(ddof=1)) if baseline.size > 1 else 0.0
    return sd / np.sqrt(baseline.size) if sd > 0 else None


def _auc_test(data: Aligned, direction: Direction, ideal: float | None, margin: float, confidence: float) -> Tested:
    """Paired DeLong. With an ideal (0.5: the attack cannot tell) the worsening is the change in distance from
    it, s_c·(AUC_c − I) − s_b·(AUC_b − I), whose variance comes from the same signed placement values."""
    assert data.labels is not None
    y = data.labels > 0.5
    if direction == "ideal" and ideal is not None:
        b10, b01, auc_b = delong_components(data.baseline, y)
        c10, c01, auc_c = delong_components(data.candidate, y)
        s_b = _side(auc_b, ideal, _side(auc_c, ideal))
        s_c = _side(auc_c, ideal, s_b)
        worse = s_c * (auc_c - ideal) - s_b * (auc_b - ideal)
        d10, d01 = s_c * c10 - s_b * b10, s_c * c01 - s_b * b01
        se = float(np.sqrt(d10.var(ddof=1) / d10.size + d01.var(ddof=1) / d01.size)) if min(d10.size, d01.size) > 1 else 0.0
        se = se if se > EXACT_TOLERANCE else 0.0
        p = (0.0 if worse > margin + EXACT_TOLERANCE else 1.0) if se <= EXACT_TOLERANCE else float(sps.norm.sf((worse - margin) / se))
        z = float(sps.norm.ppf((1 + confidence) / 2))
        test = WorseTest(worse, worse - z * se, worse + z * se, p, int(y.size),
                         "paired DeLong, distance from the ideal (one-sided)", margin, se, confidence=confidence)
        return Tested(auc_b, auc_c, worse, test.ci_low, test.ci_high, test, se or None)
    higher_is_worse = direction != "higher"
    test = delong_paired_worse(data.baseline, data.candidate, y, margin, higher_is_worse=higher_is_worse,
                               confidence=confidence)
    auc_b = delong_components(data.baseline, y)[2]
    auc_c = auc_b + (test.worse_by if higher_is_worse else -test.worse_by)
    low, high = (test.ci_low, test.ci_high) if higher_is_worse else (-test.ci_high, -test.ci_low)
    return Tested(auc_b, auc_c, auc_c - auc_b, low, high, test, test.se or None)


def _gap_test(data: Aligned, statistic: str, margin: float, confidence: float, resamples: int, seed: int) -> Tested:
    assert data.strata is not None
    codes, names = group_codes(data.strata)
    g = len(names)
    if statistic == STAT_EO_GAP:
        assert data.labels is not None
        labels = data.labels
        eligible = eligible_groups(labels, codes, g)

        def stat(values: np.ndarray, index: np.ndarray) -> np.ndarray:
            return eo_gap(values[index], labels[index], codes[index], g, eligible)
    else:
        def stat(values: np.ndarray, index: np.ndarray) -> np.ndarray:
            return max_gap(values[index], codes[index], g)
    identity = np.arange(data.baseline.size)[None, :]
    gap_a, gap_b = float(stat(data.baseline, identity)[0]), float(stat(data.candidate, identity)[0])
    test = adaptive_bootstrap_worse(lambda idx: stat(data.candidate, idx) - stat(data.baseline, idx),
                                    data.baseline.size, gap_b - gap_a, margin, strata=data.strata, seed=seed,
                                    resamples=resamples, confidence=confidence)
    return Tested(gap_a, gap_b, gap_b - gap_a, test.ci_low, test.ci_high, test, test.se or None)


def run_test(data: Aligned, outcome: Outcomes, metric: Metric | None, direction: Direction, margin: float, *,
             confidence: float, resamples: int, seed: int) -> Tested:
    """The paired one-sided test of the outcome's statistic (see the module docstring)."""
    ideal = metric.ideal if metric is not None else None
    if outcome.statistic == STAT_AUC:
        return _auc_test(data, direction, ideal, margin, confidence)
    if outcome.statistic in (STAT_MAX_GAP, STAT_EO_GAP):
        return _gap_test(data, outcome.statistic, margin, confidence, resamples, seed)
    assert outcome.statistic == STAT_MEAN
    return _mean_test(data, direction, ideal, margin, confidence)


def minimum_detectable(tested: Tested, alpha: float, power: float = 0.8) -> float:
    """MDE of the worsening beyond the margin at one-sided level α (the family's per-test level)."""
    test = tested.test
    if test.discordant is not None:
        return mde_paired_proportions(test.discordant, test.n, alpha=alpha, power=power)
    if tested.planning_se is None:
        return float("nan")
    return mde_normal(tested.planning_se, alpha=alpha, power=power)
