"""Gates: typed groups, NaN never passes, distance from an ideal (max_deviation) with and without CIs."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from audit.config.schema import Gate
from audit.regression.gates import apply_gates, evaluate_gate
from audit.results import Condition, Metric, Severity, SuiteResult, UNIT_PROPORTION


def _suite(*metrics: Metric, model: str = "m") -> SuiteResult:
    return SuiteResult(suite="bias", suite_version="1", model=model, metrics=list(metrics))


def _metric(value: float, group: dict | None = None, **extra) -> Metric:
    fields = {"ci_low": value - 0.05, "ci_high": value + 0.05, "n": 100, "unit": UNIT_PROPORTION, **extra}
    return Metric(name="crows_pairs.metric", value=value, group=group, **fields)


def _severities(gate: Gate, *suites: SuiteResult) -> list[Severity]:
    return [f.severity for _, f in evaluate_gate(gate, list(suites))]


@pytest.mark.parametrize("group", [{"bias_type": "race-color"}, "bias_type=race-color", " bias_type = race-color "])
def test_group_as_mapping_or_canonical_text_matches_by_group_key(group):
    gate = Gate(metric="crows_pairs.metric", max=0.6, group=group)
    suite = _suite(_metric(0.5), _metric(0.7, {"bias_type": "race-color"}), _metric(0.4, {"bias_type": "age"}))
    [(owner, finding)] = evaluate_gate(gate, [suite])
    assert owner is suite and finding.severity == Severity.FAIL and finding.evidence["group"] == "bias_type=race-color"
    assert "[bias_type=race-color]" in finding.gate


def test_multi_key_group_and_yaml_numbers():
    gate = Gate.model_validate({"metric": "fairness.selection_rate", "min": 0.1,
                                "group": {"target_ident": "women", "length": 40}})
    assert gate.group == {"target_ident": "women", "length": "40"}
    assert gate.group_key == "length=40;target_ident=women"        # order-free, canonical
    metric = Metric(name="fairness.selection_rate", value=0.3, n=10, group={"target_ident": "women", "length": "40"})
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
    assert run_level[0].severity == Severity.FAIL
    assert "no such metric" in run_level[0].message and "bias_type=race-color" in run_level[0].message


@pytest.mark.parametrize("value,expected", [(0.58, Severity.INFO), (0.42, Severity.INFO), (0.62, Severity.FAIL),
                                            (0.35, Severity.FAIL)])
def test_max_deviation_judges_distance_from_ideal(value, expected):
    gate = Gate(metric="crows_pairs.metric", max_deviation=0.1)
    assert _severities(gate, _suite(_metric(value, ideal=0.5))) == [expected]


def test_max_deviation_with_ci_fails_only_when_the_whole_interval_is_outside():
    gate = Gate(metric="crows_pairs.metric", max_deviation=0.1, use_ci=True)
    straddles = _metric(0.62, ideal=0.5, ci_low=0.55, ci_high=0.69)     # band [0.4, 0.6] overlaps the CI
    outside = _metric(0.66, ideal=0.5, ci_low=0.61, ci_high=0.71)
    below = _metric(0.3, ideal=0.5, ci_low=0.25, ci_high=0.38)
    assert _severities(gate, _suite(straddles)) == [Severity.INFO]
    assert _severities(gate, _suite(outside)) == [Severity.FAIL]
    assert _severities(gate, _suite(below)) == [Severity.FAIL]
    # without use_ci the point estimate decides
    assert _severities(Gate(metric="crows_pairs.metric", max_deviation=0.1), _suite(straddles)) == [Severity.FAIL]


def test_max_deviation_on_a_metric_without_ideal_fails():
    [(_, finding)] = evaluate_gate(Gate(metric="crows_pairs.metric", max_deviation=0.1), [_suite(_metric(0.5))])
    assert finding.severity == Severity.FAIL and "no ideal" in finding.message


def test_use_ci_falls_back_to_the_value_when_the_ci_is_missing_or_nan():
    gate = Gate(metric="crows_pairs.metric", max=0.6, use_ci=True)
    assert _severities(gate, _suite(_metric(0.7, ci_low=math.nan, ci_high=math.nan))) == [Severity.FAIL]
    assert _severities(gate, _suite(_metric(0.7, ci_low=None, ci_high=None))) == [Severity.FAIL]
    assert _severities(gate, _suite(_metric(0.65, ci_low=0.55, ci_high=0.75))) == [Severity.INFO]


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
