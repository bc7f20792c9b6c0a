"""report.html and compliance.html in a real headless Chromium: no console errors, no network
requests, charts drawn, every section present, planted markup shown as text and never executed;
and the compliance PDF printed by Chromium carries the headline numbers (pdftotext).

Set RAI_AUDIT_SCREENSHOTS=FOLDER to also save full-page screenshots of both pages there."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from reports.compliance.renderers import CompliancePdfRenderer
from tests.browser import Browser, browser, render_pages, unavailable  # noqa: F401 (fixture)
from tests.report_fixtures import ACCURACY_SHOWN, CROWS_SHOWN, PAYLOAD_DATA, PAYLOAD_OUTPUT, sample_run

REPORT_SECTIONS = ("summary", "detect", "comparison", "variants", "history", "provenance")
COMPLIANCE_SECTIONS = ("summary", "model-details", "intended-use", "evaluation-data", "evaluation-results",
                       "results-by-group", "robustness", "explainability", "privacy", "derived-models", "detect",
                       "changes", "limitations",
                       "mapping", "gates", "provenance")
CHART_CHECK = """
return Array.from(document.querySelectorAll('svg.chart')).map(function (svg) {
  var box = svg.getBoundingClientRect();
  return {cls: svg.getAttribute('class'), children: svg.querySelectorAll('*').length,
          width: box.width, height: box.height, lines: svg.querySelectorAll('polyline, rect.bar, circle').length};
});"""

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pages")
    run = sample_run()
    return render_pages(run, folder)


def _clean_visit(browser: Browser, path: Path):
    visit = browser.visit(path)
    errors = [e for e in visit.console if e.get("level") in ("SEVERE", "ERROR")]
    assert errors == [], errors
    assert visit.requests == [visit.url], visit.requests          # the page itself, nothing else
    assert browser.js("return window.__xss") is None                # no planted handler or script ran
    text = browser.js("return document.body.innerText")
    assert PAYLOAD_OUTPUT in text                                   # shown as text
    assert browser.js("return document.querySelectorAll('img, iframe, object, embed').length") == 0
    return text


def _sections(browser: Browser, ids: tuple[str, ...]) -> None:
    missing = browser.js("return arguments[0].filter(function (id) { return !document.getElementById(id); })",
                         list(ids))
    assert missing == []


def test_report_html_in_a_browser(browser, pages):
    text = _clean_visit(browser, pages["report"])
    assert PAYLOAD_DATA in text
    _sections(browser, REPORT_SECTIONS)
    assert browser.js("return document.querySelectorAll('section.suite').length") == 3
    assert browser.js("return document.querySelectorAll('script').length") == 1          # our print helper only
    charts = browser.js(CHART_CHECK)
    kinds = " ".join(c["cls"] for c in charts)
    assert "bar-chart" in kinds and "line-chart" in kinds and len(charts) >= 5
    for chart in charts:
        assert chart["children"] > 3 and chart["width"] > 100 and chart["height"] > 50 and chart["lines"] > 0, chart
    trend = browser.js("return document.querySelectorAll('#history svg.chart polyline').length")
    assert trend >= 1
    first_row = browser.js("return document.querySelector('#comparison table.compare tbody tr').className")
    assert first_row == "row-regression"                                                    # flagged first
    assert ACCURACY_SHOWN in text and "supported regression" in text
    assert "What this audit could detect" in text and "cannot test" in text


def test_compliance_html_in_a_browser(browser, pages):
    text = _clean_visit(browser, pages["compliance"])
    _sections(browser, COMPLIANCE_SECTIONS)
    assert browser.js("return document.querySelectorAll('script').length") == 0
    assert ACCURACY_SHOWN in text and CROWS_SHOWN in text
    assert "not evidenced by this audit" in text and "MEASURE 2.11" in text and "Art. 15(1)" in text
    assert "What this audit could detect" in text and "Derived models" in text
    assert browser.js("return document.querySelectorAll('#detect table.detect tbody tr').length") >= 1
    not_evidenced = browser.js("return document.querySelectorAll('#mapping tr.not-evidenced').length")
    assert not_evidenced > 0


def test_screenshots_when_asked(browser, pages):
    folder = os.environ.get("RAI_AUDIT_SCREENSHOTS")
    if not folder:
        pytest.skip("set RAI_AUDIT_SCREENSHOTS=FOLDER to save screenshots")
    for name, page in pages.items():
        browser.visit(page)
        assert browser.screenshot(Path(folder) / f"{name}-sample.png").stat().st_size > 10_000


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="no pdftotext (Debian package poppler-utils)")
def test_compliance_pdf_has_the_headline_numbers(tmp_path, monkeypatch):
    monkeypatch.delenv("RAI_AUDIT_PDF", raising=False)
    pdf = CompliancePdfRenderer().render(sample_run(), tmp_path)
    assert pdf is not None and pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for needle in (ACCURACY_SHOWN, CROWS_SHOWN, "Regulatory mapping", "not evidenced by this audit",
                   "Known limitations", "MEASURE 2.10", "git checkout 0123456789abcdef"):
        assert needle in text, needle
    assert PAYLOAD_OUTPUT in " ".join(text.split())                                         # printed as text
