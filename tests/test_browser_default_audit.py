"""The default audit's own report and compliance report in a real headless Chromium.

Rendered from the stored results.json of a `make audit` run (tests/data/default_audit.results.json.gz,
outcomes dropped): "What this audit could detect" lists the real verdicts in both pages; the
compliance report evidences MEASURE 2.10 and Art. 15(5) by the audited model's membership results
and MEASURE 2.13 by the power table, and shows the DP study under derived models."""

from __future__ import annotations

import pytest

from audit.results.load import load_run
from tests.browser import Browser, browser, render_pages, unavailable  # noqa: F401 (fixture)
from tests.default_audit_fixture import extract

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

MAPPING_ROW = """
var ref = arguments[0];
return Array.from(document.querySelectorAll('#mapping tbody tr')).filter(function (tr) {
  return tr.querySelector('td.ref') && tr.querySelector('td.ref').innerText.trim() === ref;
}).map(function (tr) { return {cls: tr.className, text: tr.innerText}; });"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("default-audit")
    run = load_run(extract(folder))
    return render_pages(run, folder)


def _visit(browser: Browser, path) -> str:
    visit = browser.visit(path)
    assert [e for e in visit.console if e.get("level") in ("SEVERE", "ERROR")] == []
    assert visit.requests == [visit.url]                     # self-contained: nothing else is fetched
    return browser.js("return document.body.innerText")


def _detect_rows(browser: Browser) -> list[str]:
    return browser.js("return Array.from(document.querySelectorAll('#detect table tbody tr'))"
                      ".map(function (tr) { return tr.innerText; })")


def test_default_report_shows_what_the_audit_could_detect(browser, pages):
    text = _visit(browser, pages["report"])
    assert "What this audit could detect" in text
    rows = _detect_rows(browser)
    assert len(rows) >= 10
    for verdict in ("accuracy.accuracy", "privacy.mia_auc", "explain.comprehensiveness_over_random"):
        assert any(verdict in row for row in rows), verdict
    assert browser.js("return document.documentElement.scrollWidth <= window.innerWidth + 1")   # no overflow


def test_default_compliance_report_evidences_privacy_and_its_own_tests(browser, pages):
    text = _visit(browser, pages["compliance"])
    assert "What this audit could detect" in text and len(_detect_rows(browser)) >= 10
    for ref, evidence in (("MEASURE 2.10", "privacy.mia_auc"), ("Art. 15(5)", "privacy.mia_auc"),
                          ("MEASURE 2.13", "What this audit could detect")):
        rows = browser.js(MAPPING_ROW, ref)
        assert rows and rows[0]["cls"] == "evidenced" and evidence in rows[0]["text"], (ref, rows)
    derived = browser.js("return document.getElementById('derived-models').innerText")
    assert "privacy.dp_accuracy" in derived and "dp eps=8" in derived and "non-private control" in derived
