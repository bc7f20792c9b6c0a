"""A run's status from its suite results and findings, and the exit code CI reads from it."""

from __future__ import annotations

from audit.results import Finding, Severity, Status, SuiteResult


def overall_status(results: list[SuiteResult], run_findings: list[Finding]) -> Status:
    if any(r.status == Status.ERROR for r in results):
        return Status.ERROR
    failed = any(r.status == Status.FAILED for r in results) or any(
        f.severity == Severity.FAIL for f in run_findings)
    return Status.FAILED if failed else Status.PASSED


EXIT_CODES = {Status.PASSED: 0, Status.FAILED: 1, Status.ERROR: 2, Status.SKIPPED: 0}
