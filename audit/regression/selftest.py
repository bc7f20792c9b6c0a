"""`run_audit.py selftest`: what can this audit detect? Planted defects and null draws on a run's own outcomes.

For each headline verdict of the run's comparison family, K draws: a null candidate (the run's
outcomes with `noise`, no defect) and, for every verdict, the same candidate with a defect of `size`
planted in that metric alone (audit/regression/plants.py). Each candidate goes through the real
comparison (its tests and its family correction, the other metrics' null p-values included), so the
detection rate is that of `compare` on this audit's design, and the false-alarm rate is how often the
metric was flagged in the null draws. A planted candidate can also be written out as a run
(`planted_run`), to check with `compare` by hand.
"""

from __future__ import annotations

import hashlib

import numpy as np

from audit.config.sections import RegressionSpec
from audit.regression.compare import SuitePair, TestedFamily, suite_pairs, tested_change, tested_family
from audit.regression.family import assign
from audit.regression.plants import Target, describe, noisy, plant
from audit.results import AuditRun, MetricChange, Selftest, SelftestRow, Status, metric_label
from audit.stats.power import DEFAULT_POWER

DEFAULT_SIZE = 0.1
DEFAULT_NOISE = 0.05
DEFAULT_DRAWS = 100


def _targets(run: AuditRun, spec: RegressionSpec, metrics: list[str] | None
             ) -> tuple[list[tuple[Target, MetricChange]], str]:
    """The headline verdicts of the run compared with itself (or the named metrics, overall), and the family."""
    family = tested_family(suite_pairs(run, run), spec)
    text = assign(family.changes, family.tests, spec, family.duplicate_of)
    out = []
    for c in family.changes:
        wanted = (c.metric in metrics and (c.group is None or c.headline)) if metrics else c.headline
        if not wanted or c.direction == "none" or c.same_as is not None:
            continue
        out.append((Target(c.suite, c.model, c.metric, c.condition, c.direction, c.ideal, c.statistic, c.group), c))
    return out, text


def _candidate(run: AuditRun, suites: list) -> AuditRun:
    return run.model_copy(update={"suites": suites, "run_id": f"{run.run_id}-selftest"})


def _flagged(family: TestedFamily, spec: RegressionSpec) -> list[MetricChange]:
    changes = [c.model_copy() for c in family.changes]
    assign(changes, family.tests, spec, family.duplicate_of)
    return changes


def _index(changes: list[MetricChange], target: Target) -> list[int]:
    """The target's own change (its overall metric, or its group for a grouped headline)."""
    return [i for i, c in enumerate(changes) if (c.suite, c.model, c.metric, c.condition, c.group) ==
            (target.suite, target.model, target.metric, target.condition, target.group)]


def _replant(family: TestedFamily, pair: SuitePair, target: Target, spec: RegressionSpec, seed: int) -> TestedFamily:
    """The null family with the target metric's changes re-tested on the planted candidate `pair`."""
    changes, tests = list(family.changes), list(family.tests)
    by_key = {(c.metric, c.group_key, c.condition): i for i, c in enumerate(changes)
              if (c.suite, c.model) == (target.suite, target.model)}
    base = {(o.metric, o.group_key, o.condition): o for o in pair.baseline.outcomes}
    for cand in pair.candidate.outcomes:
        key = (cand.metric, cand.group_key, cand.condition)
        if cand.metric != target.metric or key not in by_key or key not in base:
            continue
        made = tested_change(pair, base[key], cand, spec, seed)
        if made is not None:
            i = by_key[key]
            changes[i], tests[i] = made[0].model_copy(update={"same_as": changes[i].same_as,
                                                               "note": changes[i].note}), made[1]
    return TestedFamily(changes, tests, family.duplicate_of, family.unpaired)


def _rng(seed: int, *keys: object) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(repr((seed,) + keys).encode()).digest()[:8], "little"))


def selftest(run: AuditRun, spec: RegressionSpec | None = None, *, size: float = DEFAULT_SIZE,
             noise: float = DEFAULT_NOISE, draws: int = DEFAULT_DRAWS, seed: int = 0,
             metrics: list[str] | None = None) -> Selftest:
    """Detection and null false-alarm rates of every headline verdict over `draws` simulated candidates."""
    spec = spec or RegressionSpec()
    suites = [s for s in run.suites if s.status != Status.ERROR]
    targets, family_text = _targets(run, spec, metrics)
    hits = np.zeros(len(targets))
    alarms = np.zeros(len(targets))
    effects = np.zeros(len(targets))
    any_alarm = 0
    for k in range(draws):
        null_suites = [noisy(s, noise, _rng(seed, "noise", k, i)) for i, s in enumerate(suites)]
        pairs = suite_pairs(run, _candidate(run, null_suites))
        null = tested_family(pairs, spec, seed=seed + k)
        corrected = _flagged(null, spec)
        any_alarm += any(c.regression for c in corrected)
        for t, (target, _) in enumerate(targets):
            alarms[t] += any(corrected[i].regression for i in _index(corrected, target))
            pair = next(p for p in pairs if (p.candidate.suite, p.candidate.model) == (target.suite, target.model))
            planted = plant(pair.candidate, target, size, _rng(seed, "plant", k, t))
            planted_family = _replant(null, SuitePair(pair.baseline, planted), target, spec, seed + k)
            flagged = _flagged(planted_family, spec)
            overall = _index(flagged, target)
            hits[t] += any(flagged[i].regression for i in overall)
            effects[t] += np.mean([flagged[i].worse_by for i in overall]) if overall else 0.0
    rows = []
    for t, (target, change) in enumerate(targets):
        rate = float(hits[t] / draws)
        rows.append(SelftestRow(
            suite=target.suite, model=target.model, metric=target.metric, group=target.group,
            condition=target.condition,
            statistic=target.statistic, n=change.n_paired, planted=describe(target, size), size=size,
            detection_rate=rate, false_alarm_rate=float(alarms[t] / draws), draws=draws,
            minimum_detectable_effect=change.power.minimum_detectable_effect if change.power else None,
            planted_effect=float(effects[t] / draws), detects=rate >= DEFAULT_POWER))
    return Selftest(run_id=run.run_id, size=size, noise=noise, draws=draws, seed=seed, alpha=spec.alpha,
                    family=family_text, target_power=DEFAULT_POWER,
                    family_false_alarm_rate=float(any_alarm / draws) if draws else 0.0, rows=rows)


def planted_run(run: AuditRun, metric: str, *, size: float = DEFAULT_SIZE, seed: int = 0,
                model: str | None = None) -> AuditRun:
    """A copy of `run` (new run id, same provenance) with a defect of `size` planted in `metric`."""
    spec = RegressionSpec()
    found = [(t, c) for t, c in _targets(run, spec, [metric])[0] if model in (None, t.model)]
    if not found:
        raise ValueError(f"selftest: {metric} has no per-example outcomes in run {run.run_id}"
                         + (f" for model {model}" if model else ""))
    target = min(found, key=lambda tc: tc[0].group is not None)[0]     # the overall metric if there is one
    suites = [plant(s, target, size, _rng(seed, "planted-run")) if (s.suite, s.model) == (target.suite, target.model)
              else s for s in run.suites]
    return run.model_copy(update={"suites": suites, "run_id": f"{run.run_id}-planted-{metric_label(metric)}",
                                  "comparison": None, "selftest": None})
