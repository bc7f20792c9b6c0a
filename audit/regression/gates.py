"""Turn config thresholds into findings. A gate never passes without evidence: a gate that matches
no metric fails (a typo in a CI gate must not pass silently), and so does a metric whose value
is NaN (an undefined rate says nothing about the threshold)."""

from __future__ import annotations

import math

from audit.config.schema import Gate
from audit.results import Finding, Metric, Severity, SuiteResult, group_key

MAX_LISTED_GROUPS = 5


def _in_scope(gate: Gate, suite: SuiteResult) -> bool:
    return gate.model in (None, suite.model) and gate.suite in (None, suite.suite)


def _matches(gate: Gate, suite: SuiteResult, metric: Metric) -> bool:
    return (metric.name == gate.metric and metric.group_key == gate.group_key
            and metric.condition == gate.condition and _in_scope(gate, suite))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _bounds(gate: Gate, metric: Metric) -> tuple[float, float]:
    """(low, high) to compare: the CI with use_ci (where it is finite), else the point estimate twice."""
    if not gate.use_ci:
        return metric.value, metric.value
    low = metric.ci_low if _finite(metric.ci_low) else metric.value
    high = metric.ci_high if _finite(metric.ci_high) else metric.value
    return low, high


def _deviation_violation(gate: Gate, metric: Metric, low: float, high: float) -> str | None:
    """|value − ideal| > max_deviation; with use_ci, only when the whole CI lies outside the band."""
    bound = gate.max_deviation
    if bound is None:
        return None
    if metric.ideal is None:
        return "the metric declares no ideal, so max_deviation cannot be judged"
    ideal = metric.ideal
    deviation = abs(metric.value - ideal)
    outside = (low > ideal + bound or high < ideal - bound) if gate.use_ci else deviation > bound
    if not outside:
        return None
    where = f", CI [{low:.4g}, {high:.4g}] outside {ideal:g} ± {bound:g}" if gate.use_ci else ""
    return f"|{metric.value:.4g} − {ideal:g}| = {deviation:.4g} > {bound:g}{where}"


def violation(gate: Gate, metric: Metric) -> str | None:
    """Why the metric breaks the gate, or None. With use_ci, only a CI wholly outside fails."""
    if not math.isfinite(metric.value):
        return f"the value is {metric.value} (undefined), so the gate cannot pass"
    low, high = _bounds(gate, metric)
    if gate.min is not None and high < gate.min:
        return f"{metric.value:.4g} < {gate.min:g}" + (f" (CI high {high:.4g})" if gate.use_ci else "")
    if gate.max is not None and low > gate.max:
        return f"{metric.value:.4g} > {gate.max:g}" + (f" (CI low {low:.4g})" if gate.use_ci else "")
    return _deviation_violation(gate, metric, low, high)


def _evidence(gate: Gate, suite: SuiteResult, metric: Metric) -> dict:
    return {"value": metric.value, "ci_low": metric.ci_low, "ci_high": metric.ci_high, "n": metric.n,
            "unit": metric.unit, "group": metric.group_key, "condition": metric.condition.value,
            "ideal": metric.ideal, "min": gate.min, "max": gate.max, "max_deviation": gate.max_deviation,
            "use_ci": gate.use_ci, "model": suite.model}


def _missing_message(gate: Gate, suites: list[SuiteResult]) -> str:
    """'no such metric', with the groups / conditions the metric does have (a typo is then obvious)."""
    scope = " ".join(f"{k}={v}" for k, v in (("suite", gate.suite), ("model", gate.model)) if v)
    found = sorted({f"{m.group_key or '(overall)'} [{m.condition.value}]" for s in suites if _in_scope(gate, s)
                    for m in s.metrics if m.name == gate.metric})
    hint = ""
    if found:
        shown = ", ".join(found[:MAX_LISTED_GROUPS]) + (" ..." if len(found) > MAX_LISTED_GROUPS else "")
        hint = f"; {gate.metric} exists for group [condition]: {shown}"
    return f"gate {gate.label} {scope}".rstrip() + f": no such metric was produced{hint}"


def evaluate_gate(gate: Gate, suites: list[SuiteResult]) -> list[tuple[SuiteResult | None, Finding]]:
    """Findings for one gate, each paired with the suite result it belongs to."""
    out: list[tuple[SuiteResult | None, Finding]] = []
    for suite in suites:
        for metric in suite.metrics:
            if not _matches(gate, suite, metric):
                continue
            why = violation(gate, metric)
            severity = Severity(gate.severity) if why else Severity.INFO
            message = (f"{suite.model}: {gate.label} violated ({why}, n={metric.n})" if why
                       else f"{suite.model}: {gate.label} passed ({metric.value:.4g}, n={metric.n})")
            out.append((suite, Finding(severity=severity, gate=gate.label, metric=metric.name,
                                       message=message, evidence=_evidence(gate, suite, metric))))
    if not out:
        out.append((None, Finding(severity=Severity(gate.severity), gate=gate.label, metric=gate.metric,
                                  message=_missing_message(gate, suites),
                                  evidence={"group": group_key(gate.group), "condition": gate.condition.value})))
    return out


def apply_gates(gates: list[Gate], suites: list[SuiteResult]) -> list[Finding]:
    """Attach each gate's findings to their suite results; return the run-level ones."""
    run_level: list[Finding] = []
    for gate in gates:
        for suite, finding in evaluate_gate(gate, suites):
            (suite.findings if suite is not None else run_level).append(finding)
    return run_level
