"""Compare runs (or a variant with its original) on the same examples, and gate on regressions.

Per metric with per-example outcomes in both: the worsening over the shared example ids with a CI
and a one-sided paired test of "worse by no more than the tolerance" (config
`regression.tolerances`, default 0): exact McNemar for 0/1 outcomes, the paired t test for other
means, paired DeLong for AUCs and a paired bootstrap within groups (adaptive resamples) for group
gaps (audit/regression/paired_tests.py). A metric is flagged when that test rejects after the
correction of its family: hierarchical by default, the suites' headline metrics first and the
breakdowns of a flagged headline after (audit/regression/family.py). Metrics that cannot be tested
are listed with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pandas as pd

from audit.regression.comparability import config_difference, dataset_differences, numeric_differences
from audit.regression.family import assign
from audit.regression.paired_tests import Tested, align, run_test, seed_of
from audit.config.sections import RegressionSpec
from audit.errors import AuditUserError
from audit.results.comparison import flagged_first  # noqa: F401  (re-exported)
from audit.results import (AuditRun, Comparison, Direction, Metric, MetricChange, Outcomes, Status,
                           SuiteResult, UnpairedMetric, group_label, is_headline)

NOT_GATED = "no direction and no ideal: shown, not gated"
NO_OUTCOMES = "no per-example outcomes in both runs: shown, not tested"


class ComparisonRefused(AuditUserError):
    """The runs are not comparable (different data or audit protocol); --force overrides."""


@dataclass(frozen=True)
class SuitePair:
    baseline: SuiteResult
    candidate: SuiteResult


def _match(baseline: list[SuiteResult], candidate: list[SuiteResult], key_b, key_c) -> list[SuitePair]:
    """Pair suite results with the same key, in order of appearance (a suite may run twice)."""
    pending: dict[tuple, list[SuiteResult]] = defaultdict(list)
    for result in baseline:
        pending[key_b(result)].append(result)
    pairs = []
    for result in candidate:
        queue = pending.get(key_c(result))
        if queue:
            pairs.append(SuitePair(queue.pop(0), result))
    return pairs


def _direction(metric: Metric | None) -> Direction:
    if metric is None:
        return "none"
    if metric.ideal is not None:
        return "ideal"
    return {True: "higher", False: "lower"}.get(metric.higher_is_better, "none")  # type: ignore[return-value]


def _metric_of(pair: SuitePair, outcome: Outcomes) -> Metric | None:
    """The metric the outcomes belong to (for its direction, ideal and unit): the exact breakdown,
    else the overall metric of the same name."""
    for suite in (pair.candidate, pair.baseline):
        found = (suite.metric(outcome.metric, outcome.group, outcome.condition)
                 or suite.metric(outcome.metric, outcome.group) or suite.metric(outcome.metric))
        if found is not None:
            return found
    return next((m for m in pair.candidate.metrics if m.name == outcome.metric), None)


def tested_change(pair: SuitePair, base: Outcomes, cand: Outcomes, spec: RegressionSpec, seed: int
            ) -> tuple[MetricChange, Tested, tuple] | None:
    data = align(base, cand)
    if data is None:
        return None
    metric = _metric_of(pair, cand)
    direction = _direction(metric)
    tolerance = spec.tolerance_for(cand.metric)
    key_seed = seed_of(seed, pair.candidate.suite, pair.candidate.model, cand.metric, cand.group_key)
    tested = run_test(data, cand, metric, direction, tolerance if direction != "none" else 0.0,
                      confidence=1 - spec.alpha, resamples=spec.resamples, seed=key_seed)
    test = tested.test
    note = None
    if len(data.ids) < len(cand.values):
        note = f"paired on {len(data.ids)} of {len(cand.values)} candidate examples"
    if direction == "none":
        note = NOT_GATED if note is None else f"{note}; {NOT_GATED}"
    baseline_model = pair.baseline.model if pair.baseline.model != pair.candidate.model else None
    change = MetricChange(
        suite=pair.candidate.suite, model=pair.candidate.model, baseline_model=baseline_model, metric=cand.metric,
        group=cand.group, condition=cand.condition, unit=metric.unit if metric else None, direction=direction,
        ideal=metric.ideal if metric else None, baseline=tested.baseline, candidate=tested.candidate,
        difference=tested.difference, ci_low=tested.ci_low, ci_high=tested.ci_high, confidence=1 - spec.alpha,
        worse_by=test.worse_by if direction != "none" else 0.0, tolerance=tolerance, p_value=test.p_value,
        n_paired=test.n, test=test.test, note=note, statistic=cand.statistic,
        headline=is_headline(pair.candidate.headlines, cand.metric, cand.group))
    signature = (pair.candidate.model, tuple(data.ids), data.baseline.tobytes(), data.candidate.tobytes(),
                 direction, change.ideal, cand.statistic)
    return change, tested, signature


def _unpaired(pair: SuitePair, paired: set[tuple]) -> list[UnpairedMetric]:
    """Overall and headline metrics of both suite results without outcomes in both: shown side by side
    with the reason."""
    out = []
    for m in pair.candidate.metrics:
        headline = is_headline(pair.candidate.headlines, m.name, m.group)
        if (m.group is not None and not headline) or (m.name, m.group_key, m.condition) in paired:
            continue
        old = pair.baseline.metric(m.name, m.group, m.condition)
        if old is None:
            continue
        ci = (lambda x: (x.ci_low, x.ci_high) if x.ci_low is not None and x.ci_high is not None else None)
        out.append(UnpairedMetric(suite=pair.candidate.suite, model=pair.candidate.model, metric=m.name,
                                  group=m.group, unit=m.unit, baseline=old.value, candidate=m.value, baseline_ci=ci(old),
                                  candidate_ci=ci(m), reason=NO_OUTCOMES))
    return out


def _label(change: MetricChange) -> str:
    group = f" [{group_label(change.group)}]" if change.group else ""
    return f"{change.suite}/{change.model} {change.metric}{group}"


@dataclass
class TestedFamily:
    """Every change of a comparison before the family correction (the selftest re-corrects copies)."""

    changes: list[MetricChange]
    tests: list[Tested]
    duplicate_of: dict[int, int]
    unpaired: list[UnpairedMetric]


def compare_pairs(pairs: list[SuitePair], spec: RegressionSpec, *, seed: int = 0
                  ) -> tuple[list[MetricChange], list[UnpairedMetric], str]:
    """Every metric with outcomes in both members of a pair, tested; the family corrected together."""
    tested = tested_family(pairs, spec, seed=seed)
    family = assign(tested.changes, tested.tests, spec, tested.duplicate_of)
    return tested.changes, tested.unpaired, family


def tested_family(pairs: list[SuitePair], spec: RegressionSpec, *, seed: int = 0) -> TestedFamily:
    """Each metric with outcomes in both members of a pair, tested (not yet corrected)."""
    changes: list[MetricChange] = []
    tests: list[Tested] = []
    unpaired: list[UnpairedMetric] = []
    duplicate_of: dict[int, int] = {}
    seen: dict[tuple, int] = {}
    for pair in pairs:
        base_outcomes = {(o.metric, o.group_key, o.condition): o for o in pair.baseline.outcomes}
        names: set[tuple] = set()
        for cand in pair.candidate.outcomes:
            if cand.group is not None and not spec.groups:
                continue
            base = base_outcomes.get((cand.metric, cand.group_key, cand.condition))
            if base is None:
                continue
            made = tested_change(pair, base, cand, spec, seed)
            if made is None:
                continue
            change, tested, signature = made
            names.add((cand.metric, cand.group_key, cand.condition))
            if signature in seen:     # the same test twice (e.g. overall = the only dataset): one hypothesis
                change.same_as = _label(changes[seen[signature]])
                change.note = f"same outcomes as {change.same_as}"
                duplicate_of[len(changes)] = seen[signature]
            else:
                seen[signature] = len(changes)
            changes.append(change)
            tests.append(tested)
        unpaired.extend(_unpaired(pair, names))
    return TestedFamily(changes, tests, duplicate_of, unpaired)


def suite_pairs(baseline: AuditRun, candidate: AuditRun) -> list[SuitePair]:
    """Suite results of two runs paired by (suite, model), errored baselines left out."""
    key = (lambda s: (s.suite, s.model))
    return _match([s for s in baseline.suites if s.status != Status.ERROR], candidate.suites, key, key)


def _status(changes: list[MetricChange]) -> Status:
    return Status.FAILED if any(c.regression for c in changes) else Status.PASSED


def check_comparable(baseline: AuditRun, candidate: AuditRun, *, force: bool = False) -> list[str]:
    """Raise ComparisonRefused when the data or the protocol differ; with force, return what differed."""
    problems = dataset_differences(baseline, candidate) + numeric_differences(baseline, candidate)
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
    # an errored candidate is named first: its missing datasets are a symptom, not a reason to --force
    overridden = [] if candidate.status == Status.ERROR else check_comparable(baseline, candidate, force=force)
    comparison = Comparison(kind="baseline", baseline_run_id=baseline.run_id, baseline_ref=baseline_ref,
                            baseline_started_at=baseline.provenance.started_at or None,
                            candidate_run_id=candidate.run_id, alpha=spec.alpha, correction=spec.correction,
                            overridden=overridden)
    if candidate.status == Status.ERROR:
        comparison.status = Status.ERROR
        comparison.message = (f"the candidate run {candidate.run_id} has status 'error' (a suite could not run); "
                              f"a regression check needs a complete run")
        return comparison
    pairs = suite_pairs(baseline, candidate)
    comparison.metrics, comparison.unpaired, comparison.family = compare_pairs(pairs, spec, seed=seed)
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
    comparison.metrics, comparison.unpaired, comparison.family = compare_pairs(pairs, spec, seed=seed)
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
