"""Metric names are declared once, by each suite; the compliance mapping and caveats are checked against them."""

from __future__ import annotations

import pytest

from audit.results.names import MetricNames, unknown_prefixes
from audit.run.registry import available_suites, declared_metric_names, load_suite
from reports.compliance.catalog import CAVEATS_FILE, MAPPING_FILE, check_prefixes, load_caveats, load_mapping


def test_every_builtin_suite_declares_its_metric_names():
    for name in available_suites():
        declared = load_suite(name).metrics
        assert declared.names, f"suite {name} declares no metric names"
        assert all("." in n for n in declared.names), name


def test_the_shipped_mapping_and_caveats_name_only_declared_metrics():
    load_mapping.cache_clear()
    load_caveats.cache_clear()
    assert load_mapping().rules and load_caveats().caveats


def test_a_typo_in_a_mapping_prefix_is_an_error_naming_the_file_and_the_prefix():
    declared = declared_metric_names()
    with pytest.raises(ValueError, match=r"mapping\.yaml: prefix\(es\) 'privacy\.mia_acu'"):
        check_prefixes(MAPPING_FILE, ["privacy.mia_auc", "privacy.mia_acu"], declared)
    with pytest.raises(ValueError, match="caveats.yaml"):
        check_prefixes(CAVEATS_FILE, ["crows_pair."], declared)   # one letter short of crows_pairs.
    check_prefixes(MAPPING_FILE, ["crows_pairs.", "lm_eval.bbq_disambig_mc."], declared)   # no error


def test_prefix_coverage_by_names_and_families():
    names = MetricNames.of(["bbq.bias_score_ambig"], families=["lm_eval."])
    assert unknown_prefixes(["bbq.", "bbq.bias_score_ambig", "lm_eval.task.acc", "lm_"], names) == []
    assert unknown_prefixes(["bbq.bias_score_ambi g", "fairness."], names) == ["bbq.bias_score_ambi g", "fairness."]
    assert names.declares("lm_eval.x.acc") and not names.declares("lm_eval")


def test_the_runner_flags_a_metric_the_suite_did_not_declare():
    from audit.results import Metric, SuiteResult
    from audit.run.runner import undeclared_metrics

    class Declared:
        metrics = MetricNames.of(["x.known"])

    result = SuiteResult(suite="x", suite_version="1", model="m",
                         metrics=[Metric(name="x.known", value=1.0, n=1), Metric(name="x.typo", value=1.0, n=1)])
    assert undeclared_metrics(Declared(), result) == ["x.typo"]
    assert undeclared_metrics(object(), result) == []          # a suite that declares nothing is not checked
