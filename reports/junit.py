"""JUnit XML for CI systems that display test results.

One `<testsuite>` per SuiteResult (named `suite/model`) holding one test case for the
suite's status (error → `<error>`, skipped → `<skipped>`) and one per gate finding
(severity fail → `<failure>`; warn and info pass, their message in `<system-out>`).
A fail finding without a gate is reported too, so no failure is ever silent.
Run-level findings (and a run that errored) go to a testsuite named `run`.
A comparison with a baseline (`compare`) and each variant's comparison with its original
(`variant/NAME`) get a testsuite with one test case per compared metric: a supported regression
is a `<failure>`, a comparison that could not be made an `<error>`.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter

from audit.results import COMPARISON_SOURCE, AuditRun, Comparison, Finding, MetricChange, Severity, Status, SuiteResult, group_label
from reports.base import TextFileRenderer

JUNIT_FILENAME = "junit.xml"
RUN_SUITE_NAME = "run"
STATUS_CASE = "status"
COMPARE_SUITE_NAME = "compare"
# Characters XML 1.0 forbids even when escaped (control characters, lone surrogates).
_INVALID_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: object) -> str:
    """Text safe for XML 1.0: forbidden characters become U+FFFD (ElementTree escapes the rest)."""
    return _INVALID_XML.sub("\ufffd", str(text))


def _reported(finding: Finding) -> bool:
    """Gate findings and failures; a comparison's own findings are reported by its testsuite."""
    if finding.evidence.get("source") == COMPARISON_SOURCE:
        return False
    return finding.gate is not None or finding.severity == Severity.FAIL


def _finding_text(finding: Finding) -> str:
    if not finding.evidence:
        return clean(finding.message)
    evidence = json.dumps(finding.evidence, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    return clean(f"{finding.message}\n\nevidence:\n{evidence}")


def _case(parent: ET.Element, classname: str, name: str, time: float = 0.0) -> ET.Element:
    return ET.SubElement(parent, "testcase", classname=clean(classname), name=clean(name), time=f"{time:.3f}")


def _finding_cases(parent: ET.Element, classname: str, findings: list[Finding]) -> None:
    seen: Counter[str] = Counter()
    for finding in filter(_reported, findings):
        base = finding.gate or finding.metric or "finding"
        seen[base] += 1
        case = _case(parent, classname, base if seen[base] == 1 else f"{base} #{seen[base]}")
        if finding.severity == Severity.FAIL:
            failure = ET.SubElement(case, "failure", message=clean(finding.message), type=clean(finding.gate or "fail"))
            failure.text = _finding_text(finding)
        else:
            ET.SubElement(case, "system-out").text = clean(f"{finding.severity.value}: ") + _finding_text(finding)


def _status_case(parent: ET.Element, classname: str, status: Status, error: str | None, time: float) -> None:
    case = _case(parent, classname, STATUS_CASE, time)
    if status == Status.ERROR:
        ET.SubElement(case, "error", message=clean(error or "the suite could not run")).text = clean(error or "")
    elif status == Status.SKIPPED:
        ET.SubElement(case, "skipped", message=clean(error or "skipped"))


def _count_attributes(suite: ET.Element) -> None:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    for tag, attribute in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        suite.set(attribute, str(sum(case.find(tag) is not None for case in cases)))


def _suite_element(root: ET.Element, result: SuiteResult, timestamp: str) -> None:
    name = f"{result.suite}/{result.model}"
    suite = ET.SubElement(root, "testsuite", name=clean(name), time=f"{result.duration_s:.3f}")
    if timestamp:
        suite.set("timestamp", clean(timestamp))
    _status_case(suite, name, result.status, result.error, result.duration_s)
    _finding_cases(suite, name, result.findings)
    _count_attributes(suite)


def _run_element(root: ET.Element, run: AuditRun) -> None:
    if not run.findings and run.status != Status.ERROR:
        return
    suite = ET.SubElement(root, "testsuite", name=RUN_SUITE_NAME, time="0.000")
    if run.status == Status.ERROR:
        _status_case(suite, RUN_SUITE_NAME, run.status, "the audit run ended with an error", 0.0)
    _finding_cases(suite, RUN_SUITE_NAME, run.findings)
    _count_attributes(suite)


def _change_text(c: MetricChange) -> str:
    return clean(f"baseline {c.baseline:.6g}, candidate {c.candidate:.6g}, change {c.difference:+.6g} "
                 f"[{c.ci_low if c.ci_low is not None else float('nan'):.6g}, "
                 f"{c.ci_high if c.ci_high is not None else float('nan'):.6g}] ({c.direction}), "
                 f"worse by {c.worse_by:.6g} vs tolerance {c.tolerance:g}; {c.test}, p={c.p_value}, "
                 f"adjusted p={c.p_adjusted}, n={c.n_paired}" + (f"; {c.note}" if c.note else ""))


def comparison_element(root: ET.Element, comparison: Comparison, name: str) -> None:
    """One testsuite for a comparison: a test case per compared metric."""
    suite = ET.SubElement(root, "testsuite", name=clean(name), time="0.000")
    if comparison.status == Status.ERROR:
        case = _case(suite, name, STATUS_CASE)
        ET.SubElement(case, "error", message=clean(comparison.message or "not compared")).text = \
            clean(comparison.message or "")
    seen: Counter[str] = Counter()
    for change in comparison.metrics:
        label = f"{change.suite}/{change.model} {change.metric}" + (
            f" [{group_label(change.group)}]" if change.group else "")
        seen[label] += 1
        case = _case(suite, name, label if seen[label] == 1 else f"{label} #{seen[label]}")
        text = _change_text(change)
        if change.regression and change.same_as is None:
            ET.SubElement(case, "failure", message=clean(f"regression: {label}"), type="regression").text = text
        else:
            ET.SubElement(case, "system-out").text = text
    _count_attributes(suite)


def _total(root: ET.Element, time: float) -> None:
    suites = root.findall("testsuite")
    for attribute in ("tests", "failures", "errors", "skipped"):
        root.set(attribute, str(sum(int(s.get(attribute, "0")) for s in suites)))
    root.set("time", f"{time:.3f}")


def comparison_junit_xml(comparison: Comparison) -> str:
    """JUnit XML of a comparison alone (`rai-audit compare --junit`)."""
    root = ET.Element("testsuites", name=clean(f"rai-audit compare {comparison.candidate_run_id}"))
    comparison_element(root, comparison, COMPARE_SUITE_NAME)
    _total(root, 0.0)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def junit_tree(run: AuditRun) -> ET.Element:
    root = ET.Element("testsuites", name=clean(f"rai-audit {run.run_id}"))
    _run_element(root, run)
    for result in run.suites:
        _suite_element(root, result, run.provenance.started_at)
    if run.comparison is not None:
        comparison_element(root, run.comparison, COMPARE_SUITE_NAME)
    for variant in run.variants:
        if variant.comparison is not None:
            comparison_element(root, variant.comparison, f"variant/{variant.name}")
    suites = root.findall("testsuite")
    for attribute in ("tests", "failures", "errors", "skipped"):
        root.set(attribute, str(sum(int(s.get(attribute, "0")) for s in suites)))
    root.set("time", f"{sum(r.duration_s for r in run.suites):.3f}")
    return root


def junit_xml(run: AuditRun) -> str:
    tree = junit_tree(run)
    ET.indent(tree)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(tree, encoding="unicode") + "\n"


class JUnitRenderer(TextFileRenderer):
    """Writes `junit.xml` atomically."""

    name = "junit"
    filename = JUNIT_FILENAME

    def text(self, run: AuditRun) -> str:
        return junit_xml(run)
