"""Regression checks: paired tests on shared example ids, multiple-comparison control, tolerances,
ideal values, refusal of incomparable runs, and the exit codes of `compare`."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from audit.regression.compare import ComparisonRefused, compare_models, compare_runs, flagged_first
from audit.config.sections import RegressionSpec
from audit.stats.multiple_testing import holm
from audit.results import (AuditRun, DatasetProvenance, Metric, Outcomes, Provenance, Status, SuiteResult,
                           UNIT_PROPORTION)
from audit.stats import paired_bootstrap_distance

CONFIG = {"seed": 0, "models": {"m": {"path": "x"}},
          "suites": [{"suite": "accuracy", "config": {"datasets": [{"name": "rt", "path": "rt.jsonl"}]}}]}
DATA = {"/data/rt.jsonl": DatasetProvenance(path="/data/rt.jsonl", sha256="a" * 64, rows=500)}


def _suite(values: dict[str, np.ndarray], model: str = "m", ids: list[str] | None = None, *,
           hib: dict[str, bool | None] | None = None, ideal: dict[str, float] | None = None) -> SuiteResult:
    hib, ideal = hib or {}, ideal or {}
    suite = SuiteResult(suite="accuracy", suite_version="1", model=model)
    for name, v in values.items():
        example_ids = ids or [f"ex{i}" for i in range(len(v))]
        suite.metrics.append(Metric(name=name, value=float(np.mean(v)), n=len(v), unit=UNIT_PROPORTION,
                                    higher_is_better=hib.get(name, True), ideal=ideal.get(name)))
        suite.outcomes.append(Outcomes(metric=name, example_ids=example_ids, values=np.asarray(v, float).tolist()))
    return suite


def _run(run_id: str, *suites: SuiteResult, config: dict | None = None, datasets: dict | None = None,
         status: Status = Status.PASSED) -> AuditRun:
    provenance = Provenance(config=config or CONFIG, datasets=datasets if datasets is not None else DATA,
                            started_at=f"2026-01-0{run_id[-1]}T00:00:00+00:00")
    return AuditRun(run_id=run_id, status=status, provenance=provenance, suites=list(suites))


def _flip(values: np.ndarray, k: int, to: bool) -> np.ndarray:
    out = values.copy()
    out[np.flatnonzero(values == (not to))[:k]] = to
    return out


def test_supported_regression_is_flagged_with_the_exact_mcnemar_p_value():
    base = np.random.default_rng(0).random(500) < 0.85
    worse = _flip(base, 40, False)                        # 40 examples flip from right to wrong
    comparison = compare_runs(_run("r1", _suite({"accuracy.accuracy": base})),
                              _run("r2", _suite({"accuracy.accuracy": worse})))
    [row] = comparison.metrics
    assert comparison.status == Status.FAILED and row.regression and row.test == "exact McNemar (one-sided)"
    assert row.difference == pytest.approx(-40 / 500) and row.worse_by == pytest.approx(40 / 500)
    assert row.p_value == pytest.approx(sps.binomtest(40, 40, 0.5, alternative="greater").pvalue)
    assert row.verdict.value == "fail" and row.power.can_test
    assert row.p_adjusted == row.p_value                   # a family of one
    assert row.n_paired == 500 and row.ci_high < 0


def test_noise_is_not_a_regression_and_examples_pair_by_id():
    base = np.random.default_rng(1).random(300) < 0.8
    cand = base.copy()
    cand[[3, 10]] = ~cand[[3, 10]]
    ids = [f"ex{i}" for i in range(300)]
    order = np.random.default_rng(2).permutation(300)
    comparison = compare_runs(_run("r1", _suite({"accuracy.accuracy": base}, ids=ids)),
                              _run("r2", _suite({"accuracy.accuracy": cand[order]}, ids=[ids[i] for i in order])))
    [row] = comparison.metrics
    assert comparison.status == Status.PASSED and not row.regression and row.n_paired == 300
    assert row.baseline == pytest.approx(base.mean()) and row.candidate == pytest.approx(cand.mean())


def test_holm_correction_across_metrics_changes_the_verdict():
    """One metric at one-sided p = 1/64 among ten headlines: significant alone, not after Holm (10/64 > 0.05)."""
    rng = np.random.default_rng(3)
    base, cand = {}, {}
    for i in range(10):
        b = rng.random(400) < 0.8
        base[f"m{i}.acc"], cand[f"m{i}.acc"] = b, b.copy()
    b = base["m0.acc"]
    cand["m0.acc"] = _flip(b, 6, False)                    # 6 discordant pairs, all worse: p = 1/64
    alone = compare_runs(_run("r1", _suite({"m0.acc": b})), _run("r2", _suite({"m0.acc": cand["m0.acc"]})))
    assert alone.metrics[0].p_value == pytest.approx(1 / 64) and alone.metrics[0].regression
    together = compare_runs(_run("r1", _suite(base)), _run("r2", _suite(cand)))
    row = next(c for c in together.metrics if c.metric == "m0.acc")
    assert row.p_value == pytest.approx(1 / 64)
    assert row.p_adjusted == pytest.approx(holm([c.p_value for c in together.metrics])[0])
    assert row.p_adjusted == pytest.approx(10 * 1 / 64) and not row.regression
    assert together.status == Status.PASSED
    unadjusted = compare_runs(_run("r1", _suite(base)), _run("r2", _suite(cand)), RegressionSpec(correction="none"))
    assert next(c for c in unadjusted.metrics if c.metric == "m0.acc").regression


def test_tolerance_per_metric_and_by_glob():
    base = np.random.default_rng(4).random(1000) < 0.85
    worse = _flip(base, 40, False)                         # −4 pp, p ≈ 1e-12
    runs = (_run("r1", _suite({"accuracy.accuracy": base})), _run("r2", _suite({"accuracy.accuracy": worse})))
    assert compare_runs(*runs, RegressionSpec(tolerance=0.02)).metrics[0].regression
    loose = compare_runs(*runs, RegressionSpec(tolerances={"accuracy.*": 0.05}))
    assert not loose.metrics[0].regression and loose.metrics[0].tolerance == 0.05
    assert loose.status == Status.PASSED
    assert RegressionSpec(tolerance=0.01, tolerances={"accuracy.accuracy": 0.03, "accuracy.*": 0.1}
                          ).tolerance_for("accuracy.accuracy") == 0.03


def test_a_metric_with_an_ideal_is_judged_by_its_distance():
    rng = np.random.default_rng(5)
    base = (rng.random(800) < 0.6).astype(float)          # 60 %: 10 points from the ideal 50 %
    mirrored = 1.0 - base                                  # 40 %: as far on the other side
    further = _flip(base.astype(bool), 120, True).astype(float)   # 75 %: further from the ideal
    ideal = {"crows.metric": 0.5}
    hib = {"crows.metric": None}
    runs = lambda cand: (_run("r1", _suite({"crows.metric": base}, hib=hib, ideal=ideal)),  # noqa: E731
                         _run("r2", _suite({"crows.metric": cand}, hib=hib, ideal=ideal)))
    mirror = compare_runs(*runs(mirrored)).metrics[0]
    assert mirror.direction == "ideal" and mirror.difference == pytest.approx(0.0, abs=1e-12)
    assert not mirror.regression and mirror.test.startswith("paired t")     # sides differ: t on the distance
    worse = compare_runs(*runs(further)).metrics[0]
    assert worse.test == "exact McNemar (one-sided)"                       # 0/1 outcomes, same side
    assert worse.difference == pytest.approx(abs(further.mean() - 0.5) - abs(base.mean() - 0.5))
    assert worse.regression and worse.ci_low > 0


def test_paired_bootstrap_distance_by_hand():
    a = np.array([1, 1, 1, 0, 0, 1, 1, 0, 1, 1], float)   # 0.7
    b = np.array([1, 1, 0, 0, 0, 1, 0, 0, 1, 1], float)   # 0.5
    result = paired_bootstrap_distance(a, b, 0.5, seed=0, resamples=500)
    assert result.difference == pytest.approx(0.0 - 0.2)   # closer to the ideal: an improvement
    assert paired_bootstrap_distance(a, a, 0.5).p_value == 1.0
    assert 0 < result.p_value <= 1 and result.ci_low <= result.difference <= result.ci_high


def test_lower_is_better_and_undirected_metrics():
    rng = np.random.default_rng(6)
    base = rng.normal(0.10, 0.02, 600)
    d = 0.01 + rng.normal(0, 0.02, 600)
    cand = base + d                                        # ECE-like, lower is better: worse
    comparison = compare_runs(
        _run("r1", _suite({"acc.ece": base, "x.score": base}, hib={"acc.ece": False, "x.score": None})),
        _run("r2", _suite({"acc.ece": cand, "x.score": cand}, hib={"acc.ece": False, "x.score": None})))
    ece = next(c for c in comparison.metrics if c.metric == "acc.ece")
    free = next(c for c in comparison.metrics if c.metric == "x.score")
    assert ece.test == "paired t (one-sided)" and ece.regression
    assert ece.p_value == pytest.approx(sps.ttest_1samp(d, 0.0, alternative="greater").pvalue)   # no 1/(B+1) floor
    assert ece.p_value < 1e-20
    assert free.direction == "none" and not free.regression and free.p_adjusted is None
    assert "not gated" in free.note


def test_identical_outcome_vectors_are_one_hypothesis():
    base = np.random.default_rng(7).random(300) < 0.8
    worse = _flip(base, 30, False)

    def suite(v):
        s = _suite({"accuracy.accuracy": v})
        s.outcomes.append(Outcomes(metric="accuracy.accuracy", group={"dataset": "rt"},
                                   example_ids=s.outcomes[0].example_ids, values=s.outcomes[0].values))
        return s
    comparison = compare_runs(_run("r1", suite(base)), _run("r2", suite(worse)))
    overall, per_dataset = comparison.metrics
    assert per_dataset.note.startswith("same outcomes as") and per_dataset.p_adjusted == overall.p_adjusted
    assert overall.p_adjusted == overall.p_value           # not doubled by Holm
    assert overall.regression and per_dataset.regression


def test_candidate_errors_and_nothing_comparable_are_errors():
    base = np.ones(50, bool)
    errored = _run("r2", _suite({"accuracy.accuracy": base}), status=Status.ERROR)
    assert compare_runs(_run("r1", _suite({"accuracy.accuracy": base})), errored).status == Status.ERROR
    other = _run("r2", _suite({"other.metric": base}))
    result = compare_runs(_run("r1", _suite({"accuracy.accuracy": base})), other)
    assert result.status == Status.ERROR and "nothing was compared" in result.message


def test_different_datasets_are_refused_naming_the_dataset_unless_forced():
    base = np.ones(50, bool)
    changed = {"/elsewhere/rt.jsonl": DatasetProvenance(path="/elsewhere/rt.jsonl", sha256="b" * 64)}
    moved = {"/elsewhere/rt.jsonl": DatasetProvenance(path="/elsewhere/rt.jsonl", sha256="a" * 64)}
    one, two = _run("r1", _suite({"accuracy.accuracy": base})), _run("r2", _suite({"accuracy.accuracy": base}))
    with pytest.raises(ComparisonRefused, match=r"dataset rt.jsonl differs: sha256 aaaaaaaaaaaa"):
        compare_runs(one, two.model_copy(update={"provenance": two.provenance.model_copy(
            update={"datasets": changed})}))
    same_content = two.model_copy(update={"provenance": two.provenance.model_copy(update={"datasets": moved})})
    assert compare_runs(one, same_content).status == Status.PASSED     # same hash at another path
    forced = compare_runs(one, two.model_copy(update={"provenance": two.provenance.model_copy(
        update={"datasets": changed})}), force=True)
    assert forced.status == Status.PASSED and "differs" in forced.overridden[0]


def test_different_configs_are_refused_but_seed_and_model_specs_may_differ():
    base = np.ones(50, bool)
    other_seed = {**CONFIG, "seed": 7, "models": {"m": {"path": "new-weights"}}, "gates": ["a >= 1"]}
    limited = {**CONFIG, "suites": [{"suite": "accuracy", "config": {"datasets": [
        {"name": "rt", "path": "rt.jsonl", "limit": 100}]}}]}
    one = _run("r1", _suite({"accuracy.accuracy": base}))
    assert compare_runs(one, _run("r2", _suite({"accuracy.accuracy": base}), config=other_seed)).status == Status.PASSED
    with pytest.raises(ComparisonRefused, match=r"configs differ in suites\[0\]\.config\.datasets\[0\]\.limit"):
        compare_runs(one, _run("r2", _suite({"accuracy.accuracy": base}), config=limited))


def test_variant_against_its_original_in_one_run():
    base = np.random.default_rng(8).random(400) < 0.85
    run = _run("r1", _suite({"accuracy.accuracy": base}, model="orig"),
               _suite({"accuracy.accuracy": _flip(base, 50, False)}, model="pruned"),
               _suite({"accuracy.accuracy": base}, model="int8"))
    pruned = compare_models(run, "orig", "pruned")
    assert pruned.kind == "variant" and pruned.status == Status.FAILED
    assert pruned.metrics[0].baseline_model == "orig" and pruned.metrics[0].model == "pruned"
    assert compare_models(run, "orig", "int8").status == Status.PASSED


def test_flagged_first_orders_regressions_by_size():
    rng = np.random.default_rng(9)
    base = {f"m{i}.acc": rng.random(600) < 0.8 for i in range(3)}
    cand = {"m0.acc": base["m0.acc"], "m1.acc": _flip(base["m1.acc"], 30, False),
            "m2.acc": _flip(base["m2.acc"], 60, False)}
    comparison = compare_runs(_run("r1", _suite(base)), _run("r2", _suite(cand)))
    assert [c.metric for c in flagged_first(comparison.metrics)] == ["m2.acc", "m1.acc", "m0.acc"]
