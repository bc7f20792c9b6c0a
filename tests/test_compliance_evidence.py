"""Compliance evidence from real suite outputs (tiny models, real runner): grouped privacy metrics evidence
MEASURE 2.10 and Art. 15(5) with their group in the label, a derived model's metrics are listed under
their own heading and never count, the power table evidences MEASURE 2.13, and summary.md leads the
privacy suite with its headline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from audit.config.schema import load_config
from audit.models.resolve import load_adapter
from audit.regression.compare import compare_runs
from audit.regression.selftest import planted_run, selftest
from audit.results import AuditRun, Status
from audit.run.runner import Runner
from reports.compliance.document import build_document
from reports.compliance.markdown import compliance_markdown
from reports.compliance.renderers import render_compliance_html
from reports.html import render_html
from reports.markdown import run_markdown

WORDS = "good great fine bad dull awful film movie plot cast story music actor script scene comedy drama".split()


def _rows(path: Path, n: int, seed: int, prefix: str) -> None:
    rng = np.random.default_rng(seed)
    path.write_text("".join(json.dumps({"id": f"{prefix}{i}", "text": " ".join(rng.choice(WORDS, 6)),
                                        "label": "positive" if rng.random() < 0.5 else "negative"}) + "\n"
                            for i in range(n)), encoding="utf-8")


def _loader(name, spec, prepared_dir, cache_dir):
    return load_adapter(name, spec, prepared_dir=prepared_dir, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def run(tiny_classifier_dir, tmp_path_factory) -> AuditRun:
    tmp = tmp_path_factory.mktemp("evidence")
    _rows(tmp / "members.jsonl", 60, 1, "m")
    _rows(tmp / "others.jsonl", 60, 2, "o")
    config = {"seed": 0, "models": {"tiny": {"path": str(tiny_classifier_dir), "kind": "classifier"}},
              "suites": [{"suite": "privacy", "config": {"parts": ["membership"], "membership": {
                  "members": {"path": "members.jsonl"}, "non_members": [{"path": "others.jsonl"}],
                  "reference": None, "low_fpr": [0.1]}}},
                         {"suite": "bias", "config": {"parts": ["fairness"], "fairness": {"limit": 300, "on_blank": "drop"}}}],
              "gates": [{"metric": "privacy.mia_auc", "group": {"model": "audited", "attack": "loss"}, "max": 0.9},
                        {"metric": "fairness.demographic_parity_difference", "max": 0.3}]}
    path = tmp / "audit.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return Runner(load_config(path), tmp / "out", adapter_loader=_loader, show_progress=False).run()


def _requirement(doc, ref: str):
    return next(r for _, reqs in doc.frameworks.values() for r in reqs if r.ref == ref)


def test_grouped_privacy_metrics_are_evidence_with_their_group(run):
    doc = build_document(run)
    for ref in ("MEASURE 2.10", "Art. 15(5)"):
        req = _requirement(doc, ref)
        assert req.evidenced, ref
        assert any("privacy.mia_auc [model: audited, attack: loss] (tiny)" == e for e in req.evidence), req.evidence
    assert _requirement(doc, "MEASURE 2.11").evidenced                     # fairness, overall metrics
    assert any(r.metric.name == "privacy.mia_auc" and r.headline for r in doc.headline)


def test_power_table_evidences_measure_2_13_and_is_in_both_reports(run):
    doc = build_document(run)
    gates = [r for r in doc.detect if r.source == "gate"]
    assert len(gates) == 2 and all(r.n and (r.mde is not None or not r.can_test) for r in gates)
    auc = next(r for r in gates if "mia_auc" in r.label)
    assert auc.mde is not None and auc.n == 120
    assert all(r.verdict in ("pass", "fail", "inconclusive") for r in gates)
    assert any("What this audit could detect" in e for e in _requirement(doc, "MEASURE 2.13").evidence)
    for html in (render_html(run), render_compliance_html(run)):
        assert "What this audit could detect" in html and "min. detectable effect" in html
    assert "## What this audit could detect" in compliance_markdown(doc)


def test_derived_model_metrics_are_listed_apart_and_never_evidence(run):
    """A metric about another model (as the DP study reports: subject derived:NAME) moves to its own heading."""
    derived = run.model_copy(deep=True)
    privacy = next(s for s in derived.suites if s.suite == "privacy")
    for m in privacy.metrics:
        m.subject = "derived:privacy-dp-eps8"
    doc = build_document(derived)
    assert doc.derived and all(r.metric.subject.startswith("derived:") for r in doc.derived)
    assert not _requirement(doc, "MEASURE 2.10").evidenced
    assert all(row.metric.subject == "audited" for area in doc.areas for row in area.overall + area.grouped)
    assert "Derived models" in render_compliance_html(derived)


def test_summary_md_has_a_privacy_headline(run):
    line = next(l for l in run_markdown(run).splitlines() if l.startswith("| privacy"))
    assert "privacy.mia_auc" in line and "—" not in line.split("|")[4]


def test_membership_auc_is_compared_by_paired_delong(run):
    comparison = compare_runs(run, run.model_copy(update={"run_id": "again"}))
    auc = next(c for c in comparison.metrics if c.metric == "privacy.mia_auc")
    assert auc.test.startswith("paired DeLong") and auc.statistic == "auc" and auc.headline
    assert comparison.status == Status.PASSED



def test_a_planted_membership_leak_is_flagged_and_selftested(run):
    """Real privacy outputs: members given the highest attack score raise the paired-DeLong AUC; the selftest
    lists the grouped headline (the audited model's loss attack)."""
    candidate = planted_run(run, "privacy.mia_auc", size=0.3)
    comparison = compare_runs(run, candidate)
    assert "privacy.mia_auc" in {c.metric for c in comparison.regressions}
    report = selftest(run, draws=4, seed=0)
    row = next(r for r in report.rows if r.metric == "privacy.mia_auc")
    assert row.group == {"model": "audited", "attack": "loss"} and row.n == 120

