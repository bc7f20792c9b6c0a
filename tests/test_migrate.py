"""Schema 1.0 results.json files (written by the code before the 2.0 contract) still load, migrated."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest

from audit.regression.compare import compare_runs
from audit.config.schema import Gate
from audit.errors import DataError
from audit.regression.gates import evaluate_gate
from audit.results.migrate import migrate_metric, migrate_v1, parse_v1_group
from audit.results import SCHEMA_VERSION, UNIT_PROPORTION, Severity
from reports.html import render_html
from reports.json_report import load_run
from reports.junit import junit_xml

V1_FILE = Path(__file__).resolve().parent / "data" / "results_v1.json"


@pytest.fixture(scope="module")
def v1_data() -> dict:
    return json.loads(V1_FILE.read_text())


@pytest.fixture(scope="module")
def migrated():
    return load_run(V1_FILE)


def _metrics(run, name: str) -> list:
    return [m for s in run.suites for m in s.metrics if m.name == name]


@pytest.mark.parametrize("text,group", [
    ("bias_type=race-color", {"bias_type": "race-color"}),
    ("dataset=reviews,label=negative", {"dataset": "reviews", "label": "negative"}),
    ("dataset=a,b,label=x", {"dataset": "a,b", "label": "x"}),
    ("target_ident=Muslims & direction=directed", {"target_ident": "Muslims", "direction": "directed"}),
    ("template=[TARGET] is a [ATTRIBUTE].", {"template": "[TARGET] is a [ATTRIBUTE]."}),
    ("template=My [TARGET], a=b & c, [ATTRIBUTE].", {"template": "My [TARGET], a=b & c, [ATTRIBUTE]."}),
    ("swap_to=black people", {"swap_to": "black people"}),
    ("category=Age", {"category": "Age"}),
    ("no key", {"group": "no key"}),
    (None, None),
])
def test_v1_group_grammars(text, group):
    assert parse_v1_group(text) == group


def test_percent_metric_becomes_a_fraction_with_its_ideal():
    old = {"name": "crows_pairs.metric", "value": 57.3, "ci_low": 54.8, "ci_high": 59.9, "n": 1508,
           "group": "bias_type=gender", "unit": "%", "higher_is_better": False}
    new = migrate_metric(old)
    assert new["value"] == pytest.approx(0.573) and new["ci_low"] == pytest.approx(0.548)
    assert new["ci_high"] == pytest.approx(0.599) and new["unit"] == UNIT_PROPORTION
    assert new["ideal"] == 0.5 and new["higher_is_better"] is None and new["group"] == {"bias_type": "gender"}
    assert old["value"] == 57.3 and old["group"] == "bias_type=gender"         # the input is untouched


def test_real_v1_file_loads_as_schema_2(v1_data, migrated):
    assert v1_data["schema_version"] == "1.0"
    assert migrated.schema_version == SCHEMA_VERSION and migrated.run_id == v1_data["run_id"]
    for suite in migrated.suites:
        for metric in suite.metrics:
            assert metric.group is None or isinstance(metric.group, dict)
            assert metric.unit not in ("%", "fraction")
            if metric.unit == UNIT_PROPORTION and math.isfinite(metric.value):
                assert 0.0 <= metric.value <= 1.0, metric
                assert metric.ci_low is None or 0.0 <= metric.ci_low <= metric.ci_high <= 1.0 + 1e-12
        for outcome in suite.outcomes:
            assert outcome.group is None or isinstance(outcome.group, dict)
    assert migrate_v1(v1_data) == migrate_v1(copy.deepcopy(v1_data))        # pure


def test_real_v1_file_values_are_the_old_ones_rescaled(v1_data, migrated):
    old = {(s["model"], m["name"], m["group"]): m for s in v1_data["suites"] for m in s["metrics"]}
    crows_old = old[("lm", "crows_pairs.metric", None)]
    [crows] = [m for m in _metrics(migrated, "crows_pairs.metric") if m.group is None]
    assert crows.value == pytest.approx(crows_old["value"] / 100) and crows.ideal == 0.5
    assert crows.ci_high == pytest.approx(crows_old["ci_high"] / 100)
    recall = next(m for m in _metrics(migrated, "accuracy.recall") if m.group == {"dataset": "reviews",
                                                                                   "label": "negative"})
    assert recall.value == old[("clf", "accuracy.recall", "dataset=reviews,label=negative")]["value"]
    assert recall.unit == UNIT_PROPORTION
    assert all(m.unit == UNIT_PROPORTION for m in _metrics(migrated, "accuracy.accuracy"))
    fair = [m for m in _metrics(migrated, "fairness.selection_rate") if m.group]
    assert fair and all(set(m.group) == {"target_ident", "direction"} for m in fair)
    templates = [m.group["template"] for m in _metrics(migrated, "templates.association")
                 if m.group and "template" in m.group]
    assert "[TARGET] is a [ATTRIBUTE]." in templates
    flips = _metrics(migrated, "counterfactual.flip_rate")
    assert flips and all(m.unit == UNIT_PROPORTION and m.ideal == 0.0 for m in flips)
    assert {"swap_to": "women"} in [m.group for m in flips]
    ratio = _metrics(migrated, "fairness.demographic_parity_difference")[0]
    assert ratio.unit == UNIT_PROPORTION and ratio.ideal == 0.0
    bbq = [m for m in _metrics(migrated, "bbq.accuracy_ambig") if m.group == {"category": "Age"}][0]
    assert bbq.value == old[("lm", "bbq.accuracy_ambig", "category=Age")]["value"] / 100


def test_v1_bar_charts_are_migrated(migrated):
    charts = [v for s in migrated.suites for v in s.views if v.type == "bar_chart"]
    crows = next(v for v in charts if v.title.startswith("CrowS-Pairs"))
    assert crows.unit == UNIT_PROPORTION and crows.reference == 0.5
    assert all(0.0 <= b.value <= 1.0 for b in crows.bars)
    assert not [v for v in charts if v.unit in ("%", "fraction")]


def test_migrated_run_works_with_gates_compare_and_reports(migrated):
    gate = Gate(metric="crows_pairs.metric", max=0.65, model="lm")
    [(_, finding)] = evaluate_gate(gate, migrated.suites)
    # 0.417 <= 0.65 (it was 41.7 <= 65), but its CI [0.17, 0.67] at n=12 straddles the bound: inconclusive
    assert finding.severity == Severity.WARN and finding.verdict.value == "inconclusive"
    deviation = Gate(metric="crows_pairs.metric", max_deviation=0.05, group="bias_type=gender", model="lm")
    [(_, far)] = evaluate_gate(deviation, migrated.suites)
    assert far.severity == Severity.FAIL                          # 100% of the gender pairs: 0.5 away
    rows = compare_runs(migrated, migrated).metrics
    assert rows and not any(r.regression for r in rows)
    html = render_html(migrated)
    assert "41.7%" in html and "bias_type: gender" in html
    assert "<testsuites" in junit_xml(migrated)


def test_schema_3_file_validates_and_4_is_refused(migrated, tmp_path):
    current = tmp_path / "results.json"
    current.write_text(migrated.model_dump_json())
    assert load_run(current) == migrated
    data = json.loads(current.read_text())
    data["schema_version"] = "4.0"
    current.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"schema_version '4\.0'.*newer rai-audit"):
        load_run(current)


def test_schema_2_file_loads_with_gate_verdicts(migrated, tmp_path):
    """A 2.1 file (no verdicts, no Outcomes.statistic) loads as 3.0; its point-estimate gate passes
    are not counted as 3.0 passes (inconclusive), its violations fail."""
    data = json.loads(migrated.model_dump_json())
    data["schema_version"] = "2.1"
    suite = data["suites"][0]
    suite["findings"] = [{"severity": "info", "message": "m: gate passed", "gate": "a >= 0.5", "metric": "a"},
                         {"severity": "fail", "message": "m: gate violated", "gate": "b >= 0.5", "metric": "b"},
                         {"severity": "info", "message": "not a gate"}]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    run = load_run(path)
    assert run.schema_version == SCHEMA_VERSION == "3.0"
    verdicts = [f.verdict.value if f.verdict else None for f in run.suites[0].findings]
    assert verdicts == ["inconclusive", "fail", None]
    assert all(o.statistic == "mean" for s in run.suites for o in s.outcomes)
