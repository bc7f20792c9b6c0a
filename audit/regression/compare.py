"""Compare runs (or a variant with its original) on the same examples, and gate on regressions.

Per metric with per-example outcomes in both: the change over the shared example ids with a CI
and a paired test — exact McNemar for 0/1 outcomes, the paired bootstrap of the mean otherwise,
and for a metric with an `ideal` the paired bootstrap of the change in distance from it. The
p-values of every metric that can regress are then adjusted together (Holm by default,
Benjamini–Hochberg on request). A metric is flagged only when its change is worse than its
tolerance (config `regression.tolerances`, default 0) AND the adjusted p-value is below α, so a
nightly check fails on supported regressions, not on noise across dozens of metrics.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.regression.comparability import config_difference, dataset_differences
from audit.config.sections import RegressionSpec
from audit.errors import AuditUserError
from audit.stats.multiple_testing import adjust
from audit.results.comparison import flagged_first  # noqa: F401  (re-exported)
from audit.results import (AuditRun, Comparison, Condition, Direction, Metric, MetricChange, Outcomes, Status,
                           SuiteResult, UnpairedMetric, group_label)
from audit.stats import is_binary, mcnemar, paired_bootstrap, paired_bootstrap_distance

NOT_GATED = "no direction and no ideal: shown, not gated"


class ComparisonRefused(AuditUserError):
    """The runs are not comparable (different data or audit protocol); --force overrides."""


@dataclass(frozen=True)
class _SuitePair:
    baseline: SuiteResult
    candidate: SuiteResult


def _match(baseline: list[SuiteResult], candidate: list[SuiteResult], key_b, key_c) -> list[_SuitePair]:
    """Pair suite results with the same key, in order of appearance (a suite may run twice)."""
    pending: dict[tuple, list[SuiteResult]] = defaultdict(list)
    for result in baseline:
        pending[key_b(result)].append(result)
    pairs = []
    for result in candidate:
        queue = pending.get(key_c(result))
        if queue:
            pairs.append(_SuitePair(queue.pop(0), result))
    return pairs


def _direction(metric: Metric | None) -> Direction:
    if metric is None:
        return "none"
    if metric.ideal is not None:
        return "ideal"
    return {True: "higher", False: "lower"}.get(metric.higher_is_better, "none")  # type: ignore[return-value]


def _aligned(a: Outcomes, b: Outcomes) -> tuple[list[str], np.ndarray, np.ndarray]:
    b_by_id = dict(zip(b.example_ids, b.values))
    a_by_id = dict(zip(a.example_ids, a.values))
    ids = [i for i in a_by_id if i in b_by_id]
    return ids, np.array([a_by_id[i] for i in ids], float), np.array([b_by_id[i] for i in ids], float)


def _metric_of(pair: _SuitePair, outcome: Outcomes) -> Metric | None:
    """The metric the outcomes belong to (for its direction, ideal and unit): the exact breakdown,
    else the overall metric of the same name."""
    for suite in (pair.candidate, pair.baseline):
        found = suite.metric(outcome.metric, outcome.group, outcome.condition) or suite.metric(outcome.metric)
        if found is not None:
            return found
    return next((m for m in pair.candidate.metrics if m.name == outcome.metric), None)


def _seed(seed: int, *keys: object) -> int:
    return int.from_bytes(hashlib.sha256(repr((seed,) + keys).encode()).digest()[:4], "little")


def _worse_by(direction: Direction, difference: float) -> float:
    """The tested change signed so that positive means worse."""
    return {"higher": -difference, "lower": difference, "ideal": difference}.get(direction, 0.0)


def _change(pair: _SuitePair, base: Outcomes, cand: Outcomes, spec: RegressionSpec, seed: int) -> MetricChange | None:
    ids, a, b = _aligned(base, cand)
    finite = np.isfinite(a) & np.isfinite(b)
    a, b = a[finite], b[finite]
    if a.size == 0:
        return None
    metric = _metric_of(pair, cand)
    direction = _direction(metric)
    confidence = 1 - spec.alpha
    key_seed = _seed(seed, pair.candidate.suite, pair.candidate.model, cand.metric, cand.group_key)
    if direction == "ideal":
        assert metric is not None and metric.ideal is not None
        test = paired_bootstrap_distance(a, b, metric.ideal, seed=key_seed, resamples=spec.resamples,
                                         confidence=confidence)
    elif direction in ("higher", "lower") and is_binary(a) and is_binary(b):
        test = mcnemar(a.astype(bool), b.astype(bool), confidence=confidence)
    else:
        test = paired_bootstrap(a, b, seed=key_seed, resamples=spec.resamples, confidence=confidence)
    note = None
    n_cand = len(cand.values)
    if a.size < n_cand:
        note = f"paired on {a.size} of {n_cand} candidate examples"
    if direction == "none":
        note = NOT_GATED if note is None else f"{note}; {NOT_GATED}"
    baseline_model = pair.baseline.model if pair.baseline.model != pair.candidate.model else None
    return MetricChange(
        suite=pair.candidate.suite, model=pair.candidate.model, baseline_model=baseline_model, metric=cand.metric,
        group=cand.group, condition=cand.condition, unit=metric.unit if metric else None, direction=direction,
        ideal=metric.ideal if metric else None, baseline=float(a.mean()), candidate=float(b.mean()),
        difference=test.difference, ci_low=test.ci_low, ci_high=test.ci_high, confidence=confidence,
        worse_by=_worse_by(direction, test.difference), tolerance=spec.tolerance_for(cand.metric),
        p_value=test.p_value, n_paired=test.n, test=test.test, note=note)


def _unpaired(pair: _SuitePair, paired_names: set[str]) -> list[UnpairedMetric]:
    """Overall metrics of both suite results that have no outcomes: shown side by side, not tested."""
    out = []
    for m in pair.candidate.metrics:
        if m.group is not None or m.condition != Condition.ORIGINAL or m.name in paired_names:
            continue
        old = pair.baseline.metric(m.name)
        if old is None:
            continue
        ci = (lambda x: (x.ci_low, x.ci_high) if x.ci_low is not None and x.ci_high is not None else None)
        out.append(UnpairedMetric(suite=pair.candidate.suite, model=pair.candidate.model, metric=m.name,
                                  unit=m.unit, baseline=old.value, candidate=m.value, baseline_ci=ci(old),
                                  candidate_ci=ci(m)))
    return out


def _label(change: MetricChange) -> str:
    group = f" [{group_label(change.group)}]" if change.group else ""
    return f"{change.suite}/{change.model} {change.metric}{group}"


def compare_pairs(pairs: list[_SuitePair], spec: RegressionSpec, *, seed: int = 0
                  ) -> tuple[list[MetricChange], list[UnpairedMetric]]:
    """Every metric with outcomes in both members of a pair, tested and corrected together."""
    changes: list[MetricChange] = []
    unpaired: list[UnpairedMetric] = []
    duplicate_of: dict[int, int] = {}
    seen: dict[tuple, int] = {}
    for pair in pairs:
        base_outcomes = {(o.metric, o.group_key, o.condition): o for o in pair.baseline.outcomes}
        names = set()
        for cand in pair.candidate.outcomes:
            if cand.group is not None and not spec.groups:
                continue
            base = base_outcomes.get((cand.metric, cand.group_key, cand.condition))
            if base is None:
                continue
            change = _change(pair, base, cand, spec, seed)
            if change is None:
                continue
            names.add(cand.metric)
            ids, a, b = _aligned(base, cand)
            signature = (pair.candidate.model, tuple(ids), a.tobytes(), b.tobytes(), change.direction, change.ideal)
            if signature in seen:     # the same test twice (e.g. overall = the only dataset): one hypothesis
                first = changes[seen[signature]]
                change.same_as = _label(first)
                change.note = f"same outcomes as {change.same_as}"
                duplicate_of[len(changes)] = seen[signature]
            else:
                seen[signature] = len(changes)
            changes.append(change)
        unpaired.extend(_unpaired(pair, names))
    family = [i for i, c in enumerate(changes) if c.direction != "none" and i not in duplicate_of]
    adjusted = adjust([changes[i].p_value for i in family], spec.correction)
    for i, p_adj in zip(family, adjusted):
        c = changes[i]
        c.p_adjusted = p_adj
        supported = p_adj < spec.alpha
        c.regression = supported and c.worse_by > c.tolerance
        c.improvement = supported and c.worse_by < 0
    for i, first in duplicate_of.items():
        changes[i].p_adjusted = changes[first].p_adjusted
        changes[i].regression, changes[i].improvement = changes[first].regression, changes[first].improvement
    return changes, unpaired


def _status(changes: list[MetricChange]) -> Status:
    return Status.FAILED if any(c.regression for c in changes) else Status.PASSED


def check_comparable(baseline: AuditRun, candidate: AuditRun, *, force: bool = False) -> list[str]:
    """Raise ComparisonRefused when the data or the protocol differ; with force, return what differed."""
    problems = dataset_differences(baseline, candidate)
    config = config_difference(baseline, candidate)
    if config:
        problems.append(config)
    if problems and not force:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ComparisonRefused(f"cannot compare run {candidate.run_id} with {baseline.run_id}: {problems[0]}{more}; "
                                f"pass --force to compare anyway")
    return problems


def compare_runs(baseline: AuditRun, candidate: AuditRun, spec: RegressionSpec | None = None, *,
                 force: bool = False, baseline_ref: str | None = None, seed: int = 0) -> Comparison:
    """The comparison of `candidate` with `baseline`, suite results paired by (suite, model).

    Raises ComparisonRefused for different datasets or configs unless `force`. A candidate that
    errored, or nothing to compare, gives status error (exit code 2)."""
    spec = spec or RegressionSpec()
    overridden = check_comparable(baseline, candidate, force=force)
    comparison = Comparison(kind="baseline", baseline_run_id=baseline.run_id, baseline_ref=baseline_ref,
                            baseline_started_at=baseline.provenance.started_at or None,
                            candidate_run_id=candidate.run_id, alpha=spec.alpha, correction=spec.correction,
                            overridden=overridden)
    if candidate.status == Status.ERROR:
        comparison.status = Status.ERROR
        comparison.message = (f"the candidate run {candidate.run_id} has status 'error' (a suite could not run); "
                              f"a regression check needs a complete run")
        return comparison
    key = (lambda s: (s.suite, s.model))
    pairs = _match([s for s in baseline.suites if s.status != Status.ERROR], candidate.suites, key, key)
    comparison.metrics, comparison.unpaired = compare_pairs(pairs, spec, seed=seed)
    if not comparison.metrics:
        comparison.status = Status.ERROR
        comparison.message = ("no metric with per-example outcomes is shared by the two runs, so nothing was "
                              "compared (different suites, models or example ids?)")
        return comparison
    comparison.status = _status(comparison.metrics)
    return comparison


def compare_models(run: AuditRun, base: str, variant: str, spec: RegressionSpec | None = None, *,
                   seed: int = 0) -> Comparison:
    """A variant against its original within one run: suite results paired by suite name."""
    spec = spec or RegressionSpec()
    comparison = Comparison(kind="variant", baseline_run_id=run.run_id, baseline_ref=base,
                            candidate_run_id=run.run_id, alpha=spec.alpha, correction=spec.correction)
    base_results = [s for s in run.suites if s.model == base and s.status != Status.ERROR]
    variant_results = [s for s in run.suites if s.model == variant]
    if any(s.status == Status.ERROR for s in variant_results):
        comparison.status = Status.ERROR
        comparison.message = f"a suite could not run on the variant {variant}"
        return comparison
    pairs = _match(base_results, variant_results, lambda s: s.suite, lambda s: s.suite)
    comparison.metrics, comparison.unpaired = compare_pairs(pairs, spec, seed=seed)
    if not comparison.metrics:
        comparison.status = Status.ERROR
        comparison.message = (f"no metric with per-example outcomes was measured on both {base} and {variant} "
                              f"(audit both with the same suites)")
        return comparison
    comparison.status = _status(comparison.metrics)
    return comparison


def comparisons_frame(changes: list[MetricChange]) -> pd.DataFrame:
    """A table of the compared metrics (for notebooks and the CLI)."""
    return pd.DataFrame([{"suite": c.suite, "model": c.model, "metric": c.metric,
                          "group": group_label(c.group, "") if c.group else "", "baseline": c.baseline,
                          "candidate": c.candidate, "difference": c.difference, "ci_low": c.ci_low,
                          "ci_high": c.ci_high, "p_value": c.p_value, "p_adjusted": c.p_adjusted,
                          "n_paired": c.n_paired, "test": c.test, "tolerance": c.tolerance,
                          "regression": c.regression} for c in changes])
