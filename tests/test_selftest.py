"""selftest: planted defects are detected at the rate the design allows, null draws rarely alarm, and a
planted candidate written as a run is flagged by `compare` (exit 1) while the original is not."""

from __future__ import annotations

import numpy as np
import pytest

from audit.regression.compare import compare_runs
from audit.regression.plants import Target, noisy, plant
from audit.regression.selftest import planted_run, selftest
from audit.results import (AuditRun, Condition, DatasetProvenance, Metric, Outcomes, Provenance, Status, SuiteResult,
                           UNIT_PROPORTION)

CONFIG = {"seed": 0, "models": {"m": {"path": "x"}}, "suites": [{"suite": "bias"}]}


def _bias_suite(rng: np.random.Generator, n_items: int = 400) -> SuiteResult:
    suite = SuiteResult(suite="bias", suite_version="1", model="m",
                        headlines=["bbq.bias_score_ambig", "crows_pairs.metric", "accuracy.accuracy"])
    bbq = rng.choice([-1.0, 0.0, 1.0], n_items, p=[0.25, 0.45, 0.30])
    crows = (rng.random(n_items) < 0.55).astype(float)
    acc = (rng.random(n_items) < 0.8).astype(float)
    for name, values, extra in (("bbq.bias_score_ambig", bbq, {"ideal": 0.0}),
                                ("crows_pairs.metric", crows, {"ideal": 0.5, "unit": UNIT_PROPORTION}),
                                ("accuracy.accuracy", acc, {"higher_is_better": True, "unit": UNIT_PROPORTION})):
        suite.metrics.append(Metric(name=name, value=float(values.mean()), n=n_items, **extra))
        ids = [f"{name}:{i}" for i in range(n_items)]
        suite.outcomes.append(Outcomes(metric=name, example_ids=ids, values=values.tolist()))
        for g in ("a", "b"):       # breakdowns under the headline
            rows = [i for i in range(n_items) if (i % 2 == 0) == (g == "a")]
            suite.outcomes.append(Outcomes(metric=name, group={"category": g}, example_ids=[ids[i] for i in rows],
                                           values=values[rows].tolist()))
    return suite


def _run(run_id: str, suite: SuiteResult) -> AuditRun:
    provenance = Provenance(config=CONFIG, datasets={"/d": DatasetProvenance(path="/d", sha256="a" * 64)})
    return AuditRun(run_id=run_id, status=Status.PASSED, provenance=provenance, suites=[suite])


def test_plant_moves_the_share_towards_the_stereotype_in_every_outcome_of_the_metric():
    suite = _bias_suite(np.random.default_rng(0))
    target = Target("bias", "m", "bbq.bias_score_ambig", Condition.ORIGINAL, "ideal", 0.0, "mean")
    planted = plant(suite, target, 0.1, np.random.default_rng(1))
    before = {(o.metric, o.group_key): np.array(o.values) for o in suite.outcomes}
    after = {(o.metric, o.group_key): np.array(o.values) for o in planted.outcomes}
    moved = before[("bbq.bias_score_ambig", None)] != after[("bbq.bias_score_ambig", None)]
    assert moved.sum() == 40 and (after[("bbq.bias_score_ambig", None)][moved] == 1.0).all()
    changed_in_groups = sum((before[k] != after[k]).sum() for k in before if k[0] == "bbq.bias_score_ambig" and k[1])
    assert changed_in_groups == 40                                   # the same items in the breakdowns
    assert all((before[k] == after[k]).all() for k in before if k[0] != "bbq.bias_score_ambig")
    null = noisy(suite, 0.1, np.random.default_rng(2))
    for o, p in zip(suite.outcomes, null.outcomes):
        assert np.mean(o.values) == pytest.approx(np.mean(p.values))   # null noise keeps every mean


def test_selftest_detects_planted_defects_and_null_draws_rarely_alarm():
    run = _run("r1", _bias_suite(np.random.default_rng(3)))
    report = selftest(run, size=0.1, noise=0.05, draws=20, seed=0)
    rows = {r.metric: r for r in report.rows}
    assert set(rows) == {"bbq.bias_score_ambig", "crows_pairs.metric", "accuracy.accuracy"}
    for row in rows.values():
        assert row.detection_rate >= 0.9 and row.detects and row.planted_effect > 0.03
        assert row.false_alarm_rate <= 0.1 and row.n == 400 and row.draws == 20
    assert report.family_false_alarm_rate <= 0.15 and "hierarchical" in report.family
    tiny = selftest(run, size=0.005, noise=0.05, draws=10, seed=0)     # 2 of 400 items: cannot be seen
    assert all(r.detection_rate <= 0.3 and not r.detects for r in tiny.rows)


def test_planted_candidate_is_flagged_by_compare_and_the_original_is_not():
    run = _run("r1", _bias_suite(np.random.default_rng(4)))
    candidate = planted_run(run, "bbq.bias_score_ambig", size=0.1)
    comparison = compare_runs(run, candidate)
    flagged = {c.metric for c in comparison.regressions}
    assert comparison.status == Status.FAILED and "bbq.bias_score_ambig" in flagged
    assert flagged <= {"bbq.bias_score_ambig"}
    assert compare_runs(run, run.model_copy(update={"run_id": "r2"})).status == Status.PASSED
    with pytest.raises(ValueError, match="no per-example outcomes"):
        planted_run(run, "nope.metric")


def test_headline_patterns_are_literal_except_wildcards():
    from audit.results import is_headline
    patterns = ["privacy.mia_auc[attack=loss;model=audited]", "lm_eval.*", "x.tpr[fpr=*]"]
    assert is_headline(patterns, "privacy.mia_auc", {"model": "audited", "attack": "loss"})
    assert not is_headline(patterns, "privacy.mia_auc", {"model": "dp-eps8", "attack": "loss"})
    assert is_headline(patterns, "lm_eval.bbq.acc") and is_headline(patterns, "x.tpr", {"fpr": "0.01"})
    assert not is_headline(patterns, "privacy.mia_auc") and is_headline([], "a.b") and not is_headline([], "a.b", {"g": "1"})
