"""Planted-defect controls on real suite outputs (tiny models, real data): every bias outcome recomputes
its metric; a candidate shifted toward the stereotype (BBQ, CrowS-Pairs, fairness) is flagged, the same
model with another seed is not; in a family of over 200 compared metrics a 5-point accuracy drop and
a planted CrowS-Pairs shift are still flagged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audit.config.sections import RegressionSpec
from audit.data.resolver import DataResolver
from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec
from audit.regression.compare import compare_runs
from audit.regression.selftest import planted_run
from audit.results import (AuditRun, DatasetProvenance, Metric, Outcomes, Provenance, Status, SuiteResult,
                           UNIT_PROPORTION)
from audit.run.suite import Context
from audit.stats.disparity import eligible_groups, eo_gap, group_codes, max_gap
from suites.bias.bbq import BIAS_SCORE_AMBIG, BIAS_SCORE_DISAMBIG
from suites.bias.crows_pairs import METRIC as CROWS
from suites.bias.fairness import DP_DIFFERENCE, EO_DIFFERENCE
from suites.bias.suite import BiasConfig, BiasSuite
from suites.bias.templates import ASSOCIATION
from suites.bias.winobias import PRO_ANTI_GAP

LM_PARTS = {"parts": ["bbq", "crows_pairs", "winobias", "templates"], "bbq": {"limit_per_category": 20},
            "crows_pairs": {"limit": 200}, "winobias": {"limit": 20}, "templates": {"limit": 8}}
CLASSIFIER_PARTS = {"parts": ["counterfactual", "fairness"], "counterfactual": {"limit": 20},
                    "fairness": {"limit": 800, "on_blank": "drop"}}
CONFIG = {"seed": 0, "models": {"m": {"path": "x"}}, "suites": [{"suite": "bias"}]}


def _suite(model_dir: Path, tmp_path: Path, config: dict, seed: int = 0, name: str = "m") -> SuiteResult:
    adapter = load_adapter(name, ModelSpec(path=str(model_dir), device="cpu"), prepared_dir=tmp_path, cache_dir=None)
    ctx = Context(model_name=name, adapter=adapter, config=BiasConfig.model_validate(config), seed=seed,
                  data=DataResolver(config_dir=tmp_path, prepared_dir=tmp_path), artifacts_dir=tmp_path)
    return SuiteResult.model_validate_json(BiasSuite().run(ctx).model_dump_json())   # as stored in results.json


def _run(run_id: str, *suites: SuiteResult, seed: int = 0) -> AuditRun:
    provenance = Provenance(config={**CONFIG, "seed": seed}, seed=seed,
                            datasets={"/d": DatasetProvenance(path="/d", sha256="a" * 64)})
    return AuditRun(run_id=run_id, status=Status.PASSED, provenance=provenance, suites=list(suites))


@pytest.fixture(scope="module")
def lm_runs(tiny_causal_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lm")
    return _suite(tiny_causal_dir, tmp, LM_PARTS, 0, "lm"), _suite(tiny_causal_dir, tmp, LM_PARTS, 1, "lm")


@pytest.fixture(scope="module")
def classifier_runs(tiny_classifier_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clf")
    return (_suite(tiny_classifier_dir, tmp, CLASSIFIER_PARTS, 0, "clf"),
            _suite(tiny_classifier_dir, tmp, CLASSIFIER_PARTS, 1, "clf"))


def _outcome(result: SuiteResult, name: str, group: dict | None = None) -> Outcomes:
    return next(o for o in result.outcomes if o.metric == name and o.group == group)


def test_bias_outcomes_recompute_their_metrics(lm_runs, classifier_runs):
    lm, clf = lm_runs[0], classifier_runs[0]
    for name, group in ((BIAS_SCORE_AMBIG, None), (BIAS_SCORE_AMBIG, {"category": "Age"}),
                        (BIAS_SCORE_DISAMBIG, None), (CROWS, None), (PRO_ANTI_GAP, None), (ASSOCIATION, None)):
        metric = lm.metric(name, group)
        assert np.nanmean(_outcome(lm, name, group).values) == pytest.approx(metric.value, abs=1e-9), name
    template = next(m for m in lm.metrics if m.name == ASSOCIATION and m.group and "template" in m.group)
    assert np.nanmean(_outcome(lm, ASSOCIATION, template.group).values) == pytest.approx(template.value)
    dp, eo = _outcome(clf, DP_DIFFERENCE), _outcome(clf, EO_DIFFERENCE)
    codes, names = group_codes(dp.strata)
    values, labels = np.array(dp.values), np.array(eo.labels)
    idx = np.arange(values.size)[None, :]
    assert max_gap(values[idx], codes[idx], len(names))[0] == pytest.approx(clf.metric(DP_DIFFERENCE).value)
    eligible = eligible_groups(labels, codes, len(names))
    assert eo_gap(values[idx], labels[idx], codes[idx], len(names), eligible)[0] == pytest.approx(
        clf.metric(EO_DIFFERENCE).value)
    assert "bbq.bias_score_ambig" in lm.headlines and DP_DIFFERENCE in clf.headlines


def test_another_seed_is_not_flagged(lm_runs, classifier_runs):
    """Null control: the same models with another seed (other seeded subsets, paired on the shared items)."""
    comparison = compare_runs(_run("a", lm_runs[0], classifier_runs[0]),
                              _run("b", lm_runs[1], classifier_runs[1], seed=1))
    assert comparison.status == Status.PASSED and not comparison.regressions
    tested = {c.metric for c in comparison.metrics if c.headline and c.tested}
    assert {CROWS, DP_DIFFERENCE, EO_DIFFERENCE} <= tested       # BBQ's seeded subsets may share no item
    same_seed = compare_runs(_run("a", lm_runs[0], classifier_runs[0]), _run("c", lm_runs[0], classifier_runs[0]))
    assert same_seed.status == Status.PASSED and BIAS_SCORE_AMBIG in {c.metric for c in same_seed.metrics}
    auc_like = [c for c in comparison.metrics if c.metric == DP_DIFFERENCE]
    assert auc_like and auc_like[0].test.startswith("paired bootstrap")


@pytest.mark.parametrize("metric,size", [(BIAS_SCORE_AMBIG, 0.2), (CROWS, 0.1), (DP_DIFFERENCE, 0.2)])
def test_a_candidate_shifted_toward_the_stereotype_is_flagged(lm_runs, classifier_runs, metric, size):
    run = _run("a", lm_runs[0], classifier_runs[0])
    candidate = planted_run(run, metric, size=size, seed=0)
    comparison = compare_runs(run, candidate)
    flagged = {c.metric for c in comparison.regressions}
    assert comparison.status == Status.FAILED and metric in flagged
    row = next(c for c in comparison.metrics if c.metric == metric and c.group is None)
    assert row.worse_by > 0 and row.verdict.value == "fail" and row.power is not None
    others = {c.metric for c in comparison.regressions if c.headline} - {metric}
    assert not others                                           # only the planted headline fires


def _large_family(rng: np.random.Generator) -> list[np.ndarray]:
    """Per-example outcomes of an accuracy (n=1000) and a CrowS-Pairs metric (n=1508)."""
    acc = (rng.random(1000) < 0.8).astype(float)
    crows = (rng.random(1508) < 0.58).astype(float)
    return [acc, crows]


def _family_suites(acc: np.ndarray, crows: np.ndarray, others: list[np.ndarray]) -> list[SuiteResult]:
    """accuracy with 120 breakdowns, CrowS-Pairs with 100, and 10 other headlines: 232 compared metrics."""
    accuracy = SuiteResult(suite="accuracy", suite_version="1", model="m", headlines=["accuracy.accuracy"])
    bias = SuiteResult(suite="bias", suite_version="1", model="m", headlines=[CROWS] + [f"x{i}.rate" for i in
                                                                                       range(len(others))])
    for suite, name, values, extra, groups in ((accuracy, "accuracy.accuracy", acc, {"higher_is_better": True}, 120),
                                               (bias, CROWS, crows, {"ideal": 0.5}, 100)):
        ids = [f"{name}:{i}" for i in range(values.size)]
        suite.metrics.append(Metric(name=name, value=float(values.mean()), n=values.size, unit=UNIT_PROPORTION, **extra))
        suite.outcomes.append(Outcomes(metric=name, example_ids=ids, values=values.tolist()))
        for g in range(groups):
            rows = list(range(g, values.size, groups))
            suite.outcomes.append(Outcomes(metric=name, group={"slice": str(g)}, example_ids=[ids[r] for r in rows],
                                           values=values[rows].tolist()))
    for i, values in enumerate(others):
        name = f"x{i}.rate"
        bias.metrics.append(Metric(name=name, value=float(values.mean()), n=values.size, higher_is_better=False))
        bias.outcomes.append(Outcomes(metric=name, example_ids=[str(k) for k in range(values.size)],
                                      values=values.tolist()))
    return [accuracy, bias]


@pytest.mark.parametrize("spec", [RegressionSpec(), RegressionSpec(family="flat", correction="bh"),
                                  RegressionSpec(family="flat", correction="holm")])
def test_a_large_family_still_flags(spec):
    rng = np.random.default_rng(0)
    acc, crows = _large_family(rng)
    others = [(rng.random(500) < 0.3).astype(float) for _ in range(10)]
    base = _family_suites(acc, crows, others)
    worse_acc = acc.copy()
    worse_acc[rng.choice(np.flatnonzero(acc == 1), 50, replace=False)] = 0          # 5 points lower
    shifted = crows.copy()
    shifted[rng.choice(np.flatnonzero(crows == 0), 60, replace=False)] = 1          # 4 points toward the stereotype
    noisy_others = []
    for v in others:                                                              # null noise on the rest
        w = v.copy()
        pick = rng.choice(v.size, 50, replace=False)
        w[pick] = v[rng.permutation(pick)]
        noisy_others.append(w)
    comparison = compare_runs(_run("a", *base), _run("b", *_family_suites(worse_acc, shifted, noisy_others)), spec)
    assert len(comparison.metrics) >= 200
    flagged = {(c.metric, c.group_key) for c in comparison.regressions}
    assert ("accuracy.accuracy", None) in flagged and (CROWS, None) in flagged
    assert not any(m.startswith("x") for m, _ in flagged)
    if spec.family == "hierarchical":
        assert "hierarchical" in comparison.family and "12 headline metrics" in comparison.family
        assert all(c.tested for c in comparison.metrics if c.metric in ("accuracy.accuracy", CROWS))
    # null control: the same runs without the plants flag nothing
    null = compare_runs(_run("a", *base), _run("b", *_family_suites(acc, crows, noisy_others)), spec)
    assert not null.regressions and not any(c.tested for c in null.metrics if c.group and spec.family == "hierarchical")
