"""Gates: three-valued verdicts with power, typed groups, NaN never passes, distance from an ideal."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from audit.config.schema import Gate
from audit.regression.gates import apply_gates, evaluate_gate, judge
from audit.results import Condition, Metric, Severity, SuiteResult, UNIT_PROPORTION, Verdict
from audit.stats import wilson_proportion
from audit.stats.power import mde_proportion


def _suite(*metrics: Metric, model: str = "m") -> SuiteResult:
    return SuiteResult(suite="bias", suite_version="1", model=model, metrics=list(metrics))


def _metric(value: float, group: dict | None = None, **extra) -> Metric:
    fields = {"ci_low": value - 0.05, "ci_high": value + 0.05, "n": 100, "unit": UNIT_PROPORTION, **extra}
    return Metric(name="crows_pairs.metric", value=value, group=group, **fields)


def _accuracy(correct: int, n: int) -> Metric:
    est = wilson_proportion([1.0] * correct + [0.0] * (n - correct))
    return Metric.from_estimate("accuracy.accuracy", est, higher_is_better=True, unit=UNIT_PROPORTION)


def _severities(gate: Gate, *suites: SuiteResult, on_inconclusive: str = "warn") -> list[Severity]:
    return [f.severity for _, f in evaluate_gate(gate, list(suites), on_inconclusive)]


def _verdicts(gate: Gate, *suites: SuiteResult) -> list[Verdict]:
    return [f.verdict for _, f in evaluate_gate(gate, list(suites))]


@pytest.mark.parametrize("group", [{"bias_type": "race-color"}, "bias_type=race-color", " bias_type = race-color "])
def test_group_as_mapping_or_canonical_text_matches_by_group_key(group):
    gate = Gate(metric="crows_pairs.metric", max=0.6, group=group)
    suite = _suite(_metric(0.5), _metric(0.7, {"bias_type": "race-color"}), _metric(0.4, {"bias_type": "age"}))
    [(owner, finding)] = evaluate_gate(gate, [suite])
    assert owner is suite and finding.severity == Severity.FAIL and finding.evidence["group"] == "bias_type=race-color"
    assert "[bias_type=race-color]" in finding.gate and finding.verdict == Verdict.FAIL


def test_multi_key_group_and_yaml_numbers():
    gate = Gate.model_validate({"metric": "fairness.selection_rate", "min": 0.1,
                                "group": {"target_ident": "women", "length": 40}})
    assert gate.group == {"target_ident": "women", "length": "40"}
    assert gate.group_key == "length=40;target_ident=women"        # order-free, canonical
    metric = Metric(name="fairness.selection_rate", value=0.3, n=10, ci_low=0.2, ci_high=0.4,
                    group={"target_ident": "women", "length": "40"})
    assert _severities(gate, _suite(metric)) == [Severity.INFO]


def test_bad_group_text_is_a_config_error():
    with pytest.raises(ValidationError, match="group"):
        Gate(metric="a.b", max=1, group="no equals sign")


@pytest.mark.parametrize("bounds", [{"min": 0.5}, {"max": 0.5}, {"max_deviation": 0.1}])
def test_nan_metric_fails_its_gate(bounds):
    nan = Metric(name="crows_pairs.metric", value=math.nan, n=0, ideal=0.5)
    [(_, finding)] = evaluate_gate(Gate(metric="crows_pairs.metric", **bounds), [_suite(nan)])
    assert finding.severity == Severity.FAIL and "undefined" in finding.message
    [(_, warned)] = evaluate_gate(Gate(metric="crows_pairs.metric", severity="warn", **bounds), [_suite(nan)])
    assert warned.severity == Severity.WARN


def test_missing_metric_fails_and_lists_the_groups_it_has():
    gate = Gate(metric="crows_pairs.metric", max=0.6, group={"bias_type": "racecolor"})
    run_level = apply_gates([gate], [_suite(_metric(0.5), _metric(0.7, {"bias_type": "race-color"}))])
    assert run_level[0].severity == Severity.FAIL and run_level[0].verdict == Verdict.FAIL
    assert "no such metric" in run_level[0].message and "bias_type=race-color" in run_level[0].message


@pytest.mark.parametrize("value,expected", [(0.52, Verdict.PASS), (0.45, Verdict.PASS), (0.58, Verdict.INCONCLUSIVE),
                                            (0.67, Verdict.FAIL), (0.33, Verdict.FAIL)])
def test_max_deviation_judges_the_ci_against_the_band(value, expected):
    gate = Gate(metric="crows_pairs.metric", max_deviation=0.1)
    assert _verdicts(gate, _suite(_metric(value, ideal=0.5))) == [expected]


def test_three_valued_verdicts_and_on_inconclusive_decides_the_severity():
    gate = Gate(metric="crows_pairs.metric", max=0.6)
    straddles = _suite(_metric(0.62, ci_low=0.55, ci_high=0.69))
    assert _verdicts(gate, straddles) == [Verdict.INCONCLUSIVE]
    assert _severities(gate, straddles) == [Severity.WARN]
    assert _severities(gate, straddles, on_inconclusive="fail") == [Severity.FAIL]
    assert _severities(Gate(metric="crows_pairs.metric", max=0.6, severity="warn"), straddles,
                       on_inconclusive="fail") == [Severity.WARN]


def test_planted_defect_fires_and_null_control_passes_with_power():
    """A model 8 points under a 0.80 accuracy gate at n=1000 fails; one 8 points over it passes;
    both verdicts carry the analytic MDE (arcsine test) for n=1000."""
    gate = Gate(metric="accuracy.accuracy", min=0.8)
    [(_, bad)] = evaluate_gate(gate, [_suite(_accuracy(720, 1000))])
    [(_, good)] = evaluate_gate(gate, [_suite(_accuracy(880, 1000))])
    assert bad.verdict == Verdict.FAIL and good.verdict == Verdict.PASS
    for finding in (bad, good):
        assert finding.power.n == 1000 and finding.power.can_test
        assert finding.power.minimum_detectable_effect == pytest.approx(mde_proportion(0.8, 1000))
        assert finding.power.power > 0.99 and "arcsine" in finding.power.method
    # the same 2-point distance at n=50 cannot be resolved: inconclusive, and the power says why
    [(_, small)] = evaluate_gate(Gate(metric="accuracy.accuracy", min=0.8, min_effect=0.02),
                                 [_suite(_accuracy(41, 50))])
    assert small.verdict == Verdict.INCONCLUSIVE and not small.power.can_test
    assert "cannot test" in small.power.note


def test_point_estimate_gates_are_power_checked():
    point = Gate(metric="accuracy.accuracy", min=0.8, use_ci=False)
    assert judge(point, _accuracy(850, 1000))[0] == Verdict.PASS          # 5 points over, n=1000: resolvable
    assert judge(point, _accuracy(17, 20))[0] == Verdict.INCONCLUSIVE     # 5 points over at n=20: not
    assert judge(point, _accuracy(15, 20))[0] == Verdict.FAIL             # a point violation still fails
    strict = Gate(metric="accuracy.accuracy", min=0.8, use_ci=False, min_effect=0.01)
    verdict, why, power = judge(strict, _accuracy(900, 1000))
    assert verdict == Verdict.INCONCLUSIVE and power.required_effect == 0.01 and "cannot test" in why


def test_max_deviation_on_a_metric_without_ideal_fails():
    [(_, finding)] = evaluate_gate(Gate(metric="crows_pairs.metric", max_deviation=0.1), [_suite(_metric(0.5))])
    assert finding.severity == Severity.FAIL and "no ideal" in finding.message


def test_use_ci_falls_back_to_the_power_checked_value_when_the_ci_is_missing_or_nan():
    gate = Gate(metric="crows_pairs.metric", max=0.6)
    assert _severities(gate, _suite(_metric(0.7, ci_low=math.nan, ci_high=math.nan))) == [Severity.FAIL]
    assert _severities(gate, _suite(_metric(0.7, ci_low=None, ci_high=None))) == [Severity.FAIL]
    assert _verdicts(gate, _suite(_metric(0.5, ci_low=None, ci_high=None))) == [Verdict.INCONCLUSIVE]
    assert _severities(gate, _suite(_metric(0.65, ci_low=0.55, ci_high=0.75))) == [Severity.WARN]


def test_gate_matches_its_condition_only():
    perturbed = _metric(0.9, condition=Condition.PERTURBED)
    assert _severities(Gate(metric="crows_pairs.metric", max=0.6), _suite(_metric(0.5), perturbed)) == [Severity.INFO]
    gate = Gate(metric="crows_pairs.metric", max=0.6, condition="perturbed")
    assert _severities(gate, _suite(_metric(0.5), perturbed)) == [Severity.FAIL] and "(perturbed)" in gate.label


def test_a_gate_needs_a_bound():
    with pytest.raises(ValidationError, match="max_deviation"):
        Gate(metric="a.b")
    with pytest.raises(ValidationError):
        Gate(metric="a.b", max_deviation=-0.1)


def test_a_zero_width_ci_is_not_evidence_of_a_pass():
    """Every resample equal (e.g. a classifier that never predicts the positive class): the point estimate
    decides with the power check, and with no SE the pass is inconclusive."""
    gate = Gate(metric="crows_pairs.metric", max=0.3)
    verdict, why, power = judge(gate, _metric(0.0, ci_low=0.0, ci_high=0.0, ci_method="percentile bootstrap (300)"))
    assert verdict == Verdict.INCONCLUSIVE and not power.can_test and "zero width" in power.note
