"""Turn config thresholds into findings. A gate that matches no metric is itself a failure
(a typo in a CI gate must not pass silently)."""

from __future__ import annotations

from audit.config import Gate
from audit.results import Finding, Metric, Severity, SuiteResult


def _matches(gate: Gate, suite: SuiteResult, metric: Metric) -> bool:
    return (metric.name == gate.metric and metric.group == gate.group
            and gate.model in (None, suite.model) and gate.suite in (None, suite.suite))


def _violation(gate: Gate, metric: Metric) -> str | None:
    """Why the metric breaks the gate, or None. With use_ci, only a CI wholly outside fails."""
    low = metric.ci_high if gate.use_ci and metric.ci_high is not None else metric.value
    high = metric.ci_low if gate.use_ci and metric.ci_low is not None else metric.value
    if gate.min is not None and low < gate.min:
        return f"{metric.value:.4g} < {gate.min:g}"
    if gate.max is not None and high > gate.max:
        return f"{metric.value:.4g} > {gate.max:g}"
    return None


def evaluate_gate(gate: Gate, suites: list[SuiteResult]) -> list[tuple[SuiteResult | None, Finding]]:
    """Findings for one gate, each paired with the suite result it belongs to."""
    out: list[tuple[SuiteResult | None, Finding]] = []
    for suite in suites:
        for metric in suite.metrics:
            if not _matches(gate, suite, metric):
                continue
            why = _violation(gate, metric)
            evidence = {"value": metric.value, "ci_low": metric.ci_low, "ci_high": metric.ci_high,
                        "n": metric.n, "min": gate.min, "max": gate.max, "model": suite.model}
            severity = Severity(gate.severity) if why else Severity.INFO
            message = (f"{suite.model}: {gate.label} violated ({why}, n={metric.n})" if why
                       else f"{suite.model}: {gate.label} passed ({metric.value:.4g}, n={metric.n})")
            out.append((suite, Finding(severity=severity, gate=gate.label, metric=metric.name,
                                       message=message, evidence=evidence)))
    if not out:
        scope = " ".join(f"{k}={v}" for k, v in (("suite", gate.suite), ("model", gate.model)) if v)
        out.append((None, Finding(severity=Severity(gate.severity), gate=gate.label, metric=gate.metric,
                                  message=f"gate {gate.label} {scope}: no such metric was produced".strip())))
    return out


def apply_gates(gates: list[Gate], suites: list[SuiteResult]) -> list[Finding]:
    """Attach each gate's findings to their suite results; return the run-level ones."""
    run_level: list[Finding] = []
    for gate in gates:
        for suite, finding in evaluate_gate(gate, suites):
            (suite.findings if suite is not None else run_level).append(finding)
    return run_level
