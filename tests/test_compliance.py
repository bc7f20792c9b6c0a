"""The compliance report: read only from stored results, mapped through data (mapping.yaml) so new
suites map without code, honest about what the run does not evidence, escaped everywhere."""

from __future__ import annotations

import logging
import re

import pytest
from pydantic import ValidationError

from audit.results import AuditRun, Metric, Provenance, Status, SuiteResult
from reports.compliance.catalog import Mapping, load_mapping
from reports.compliance.document import NOT_EVIDENCED, NOT_STATED, build_document, reproduce_commands
from reports.compliance.markdown import compliance_markdown
from reports.compliance.renderers import CompliancePdfRenderer, render_compliance_html
from tests.report_fixtures import ACCURACY_SHOWN, CROWS_SHOWN, PAYLOAD_DATA, PAYLOAD_OUTPUT, sample_run

SECTIONS = ("summary", "model-details", "intended-use", "evaluation-data", "evaluation-results", "results-by-group",
            "robustness", "explainability", "privacy", "changes", "limitations", "mapping", "gates", "provenance")


def _run_with(*metrics: tuple[str, str, float]) -> AuditRun:
    suites: dict[str, SuiteResult] = {}
    for suite, name, value in metrics:
        suites.setdefault(suite, SuiteResult(suite=suite, suite_version="1", model="m")).metrics.append(
            Metric(name=name, value=value, ci_low=value / 2, ci_high=value, n=50))
    return AuditRun(run_id="r1", status=Status.PASSED, provenance=Provenance(config={}), suites=list(suites.values()))


def _requirement(doc, ref: str):
    return next(r for _, reqs in doc.frameworks.values() for r in reqs if r.ref == ref)


def test_the_shipped_mapping_is_valid_and_ids_are_checked():
    mapping = load_mapping()
    assert {"eu_ai_act", "nist_ai_rmf"} <= set(mapping.frameworks)
    assert {i.ref for i in mapping.frameworks["nist_ai_rmf"].items.values()} >= {f"MEASURE 2.{k}" for k in range(1, 14)}
    data = mapping.model_dump()
    data["rules"][0]["evidence"] = ["art99"]
    with pytest.raises(ValidationError, match="unknown requirement ids"):
        Mapping.model_validate(data)


def test_new_suites_map_through_their_prefixes():
    doc = build_document(_run_with(("robustness", "attack.success_rate", 0.3), ("robustness", "perturb.accuracy", 0.7),
                                   ("explainability", "explain.comprehensiveness", 0.4),
                                   ("privacy", "privacy.mia_auc", 0.52), ("privacy", "privacy.dp_accuracy", 0.7),
                                   ("privacy", "privacy.canary_exposure", 2.0), ("x", "weird.thing", 1.0)))
    areas = {a.key: [r.metric.name for r in a.overall] for a in doc.areas}
    assert areas["robustness"] == ["attack.success_rate", "perturb.accuracy"]
    assert areas["explainability"] == ["explain.comprehensiveness"]
    assert areas["privacy"] == ["privacy.mia_auc", "privacy.dp_accuracy", "privacy.canary_exposure"]
    assert [r.metric.name for r in doc.unmapped] == ["weird.thing"]
    art15_5 = _requirement(doc, "Art. 15(5)")
    assert "attack.success_rate (m)" in art15_5.evidence and "privacy.mia_auc (m)" in art15_5.evidence
    assert "privacy.dp_accuracy (m)" in _requirement(doc, "MEASURE 2.10").evidence
    assert "explain.comprehensiveness (m)" in _requirement(doc, "Art. 13(3)(b)(iv)").evidence
    assert not _requirement(doc, "MEASURE 2.2").evidenced                     # human subjects: never here
    assert _requirement(doc, "MEASURE 2.1").evidenced                         # provenance always


def test_what_a_run_does_not_show_is_said():
    run = _run_with(("accuracy", "accuracy.accuracy", 0.8))
    doc = build_document(run)
    assert not _requirement(doc, "Art. 15(5)").evidenced and not _requirement(doc, "MEASURE 2.11").evidenced
    assert not _requirement(doc, "Annex IV(6)").evidenced                     # no baseline comparison
    html = render_compliance_html(run)
    for section in SECTIONS:
        assert f'id="{section}"' in html
    robustness = html[html.index('id="robustness"'):html.index('id="explainability"')]
    assert NOT_EVIDENCED in robustness.lower()
    assert html.count(NOT_STATED.split("'")[0]) >= 3                        # no model card
    assert "MEASURE 2.7" in html and "Art. 10(2)(f)" in html


def test_full_document_from_a_stored_run():
    run = sample_run()
    doc = build_document(run)
    html = render_compliance_html(run)
    assert ACCURACY_SHOWN in html and CROWS_SHOWN in html and "[81.0, 85.3]" in html      # stored value and CI
    assert "Sentiment of short English movie reviews" in html and "Apache-2.0" in html
    assert any("noisy pairs" in text for text in doc.limitations)                         # CrowS-Pairs caveat
    assert any("rt-polarity" in text for text in doc.limitations)
    assert _requirement(doc, "Annex IV(6)").evidenced and _requirement(doc, "MEASURE 2.12").evidenced
    assert "int8-dynamic quantisation" in html and "23.0 MB" in html
    assert 'id="changes"' in html and "1 supported regression(s)" in html
    assert reproduce_commands(run) == ["git checkout 0123456789abcdef0123456789abcdef01234567", "make install prepare",
                                       "python run_audit.py run /work/examples/default.yaml --out runs/default"]
    assert "local changes" in html                                                        # the -dirty revision
    assert "78" * 32 in html and "12" * 32 in html                                        # code and data hashes


def test_planted_markup_is_text_in_html_and_markdown():
    run = sample_run()
    html = render_compliance_html(run)
    assert PAYLOAD_OUTPUT not in html and PAYLOAD_DATA not in html
    assert "&lt;script&gt;window.__xss=2&lt;/script&gt;" in html
    assert not re.search(r"<(img|script)\b", html.split("</style>", 1)[1])
    markdown = compliance_markdown(build_document(run))
    assert "<script>" not in markdown and "<img" not in markdown and "&lt;script&gt;" in markdown
    for heading in ("## Summary", "## Intended use", "## Known limitations", "## Regulatory mapping",
                    "## Provenance and reproduction", "### EU AI Act", "### NIST AI RMF"):
        assert heading in markdown
    assert ACCURACY_SHOWN in markdown and NOT_EVIDENCED in markdown


def test_pdf_is_skipped_with_a_warning_without_chromium(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("RAI_AUDIT_CHROMIUM", str(tmp_path / "no-such-browser"))
    monkeypatch.delenv("RAI_AUDIT_PDF", raising=False)
    with caplog.at_level(logging.WARNING):
        assert CompliancePdfRenderer().render(sample_run(), tmp_path) is None
    assert "compliance.pdf was not written" in caplog.text and not (tmp_path / "compliance.pdf").exists()
    monkeypatch.setenv("RAI_AUDIT_PDF", "0")
    assert CompliancePdfRenderer().render(sample_run(), tmp_path) is None
