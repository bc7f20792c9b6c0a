"""Compare two runs on the same examples: paired tests, so only supported regressions count."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from audit.results import AuditRun, Outcomes
from audit.stats import mcnemar, paired_bootstrap


@dataclass(frozen=True)
class MetricComparison:
    suite: str
    model: str
    metric: str
    group: str | None
    baseline: float
    candidate: float
    difference: float          # candidate − baseline, in the per-example outcome's units
    ci_low: float
    ci_high: float
    p_value: float
    n_paired: int
    test: str
    higher_is_better: bool | None
    regression: bool


def _aligned(a: Outcomes, b: Outcomes) -> tuple[np.ndarray, np.ndarray]:
    b_by_id = dict(zip(b.example_ids, b.values))
    ids = [i for i in a.example_ids if i in b_by_id]
    a_by_id = dict(zip(a.example_ids, a.values))
    return np.array([a_by_id[i] for i in ids], float), np.array([b_by_id[i] for i in ids], float)


def compare_runs(baseline: AuditRun, candidate: AuditRun, *, alpha: float = 0.05,
                 seed: int = 0) -> list[MetricComparison]:
    """Every metric with per-example outcomes in both runs, tested pairwise on shared example ids."""
    base_suites = {(s.suite, s.model): s for s in baseline.suites}
    out = []
    for cand in candidate.suites:
        base = base_suites.get((cand.suite, cand.model))
        if base is None:
            continue
        base_outcomes = {(o.metric, o.group): o for o in base.outcomes}
        for outcome in cand.outcomes:
            if (outcome.metric, outcome.group) not in base_outcomes:
                continue
            a, b = _aligned(base_outcomes[(outcome.metric, outcome.group)], outcome)
            if a.size == 0:
                continue
            binary = set(np.unique(np.concatenate([a, b]))) <= {0.0, 1.0}
            test = mcnemar(a.astype(bool), b.astype(bool)) if binary else paired_bootstrap(a, b, seed=seed)
            metric = cand.metric(outcome.metric, outcome.group) or base.metric(outcome.metric, outcome.group)
            hib = metric.higher_is_better if metric else None
            worse = (test.difference < 0) if hib else (test.difference > 0) if hib is False else False
            out.append(MetricComparison(
                suite=cand.suite, model=cand.model, metric=outcome.metric, group=outcome.group,
                baseline=float(a.mean()), candidate=float(b.mean()), difference=test.difference,
                ci_low=test.ci_low, ci_high=test.ci_high, p_value=test.p_value, n_paired=test.n,
                test=test.test, higher_is_better=hib, regression=bool(worse and test.p_value < alpha)))
    return out


def comparisons_frame(rows: list[MetricComparison]) -> pd.DataFrame:
    return pd.DataFrame([asdict(r) for r in rows])
