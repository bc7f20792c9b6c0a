"""Turn config thresholds into three-valued findings (pass / fail / inconclusive), each with its power.

A gate passes when the metric's CI lies wholly on the right side of its bound, fails when it lies
wholly on the wrong side, and is inconclusive otherwise. With `use_ci: false` the point estimate
decides, but a pass is downgraded to inconclusive when the gate could not have detected a violation
of the size it must resolve (its minimum detectable effect at 80 % power exceeds it). Every gate
finding carries a `Power`: analytic for a binomial proportion (arcsine test), else the normal test
with the standard error the metric's own CI implies. `on_inconclusive` (config) decides whether an
inconclusive gate warns (exit 0) or fails like a violation (exit 1).

A gate never passes without evidence: a gate that matches no metric fails (a typo in a CI gate must
not pass silently), and so does a metric whose value is NaN (an undefined rate says nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from audit.config.schema import Gate
from audit.results import (UNIT_PROPORTION, Finding, Metric, Power, Severity, SuiteResult, Verdict,
                           group_key)
from audit.stats.power import (DEFAULT_POWER, mde_normal, mde_proportion, power_normal, power_proportion,
                               se_from_ci)

MAX_LISTED_GROUPS = 5
BINOMIAL_CI_METHODS = ("wilson", "clopper-pearson")
WARN, FAIL = "warn", "fail"


@dataclass(frozen=True)
class Bound:
    """One side of a gate: the metric must stay above (`lower`) or below (`upper`) `threshold`."""

    threshold: float
    upper: bool          # True: value <= threshold is good (a `max`), False: value >= threshold (a `min`)
    text: str


def _in_scope(gate: Gate, suite: SuiteResult) -> bool:
    return gate.model in (None, suite.model) and gate.suite in (None, suite.suite)


def _matches(gate: Gate, suite: SuiteResult, metric: Metric) -> bool:
    return (metric.name == gate.metric and metric.group_key == gate.group_key
            and metric.condition == gate.condition and _in_scope(gate, suite))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _interval(metric: Metric) -> tuple[float, float] | None:
    """The metric's CI, or None when it is missing, not finite or of zero width (no variation seen)."""
    if _finite(metric.ci_low) and _finite(metric.ci_high) and metric.ci_high > metric.ci_low:
        return float(metric.ci_low), float(metric.ci_high)  # type: ignore[arg-type]
    return None


def bounds(gate: Gate, metric: Metric) -> list[Bound]:
    """The gate's bounds on the metric's own scale (max_deviation becomes ideal ± bound)."""
    out = []
    if gate.min is not None:
        out.append(Bound(gate.min, False, f">= {gate.min:g}"))
    if gate.max is not None:
        out.append(Bound(gate.max, True, f"<= {gate.max:g}"))
    if gate.max_deviation is not None and metric.ideal is not None:
        ideal, dev = metric.ideal, gate.max_deviation
        out.append(Bound(ideal + dev, True, f"within {ideal:g} ± {dev:g}"))
        out.append(Bound(ideal - dev, False, f"within {ideal:g} ± {dev:g}"))
    return out


def _side(bound: Bound, low: float, high: float) -> Verdict:
    """Where [low, high] lies relative to one bound."""
    good_low, good_high = (low, high) if not bound.upper else (-high, -low)
    threshold = bound.threshold if not bound.upper else -bound.threshold
    if good_low >= threshold:
        return Verdict.PASS
    if good_high < threshold:
        return Verdict.FAIL
    return Verdict.INCONCLUSIVE


def _combine(verdicts: list[Verdict]) -> Verdict:
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    return Verdict.PASS if all(v == Verdict.PASS for v in verdicts) else Verdict.INCONCLUSIVE


def binding_bound(metric: Metric, items: list[Bound]) -> Bound:
    """The bound the value is closest to (the one a verdict hinges on)."""
    return min(items, key=lambda b: (metric.value - b.threshold) * (-1 if b.upper else 1))


def gate_power(gate: Gate, metric: Metric, bound: Bound) -> Power:
    """What this gate could detect at the metric's n, against the distance it must resolve."""
    margin = abs(metric.value - bound.threshold)
    required = gate.min_effect if gate.min_effect is not None else margin
    binomial = metric.unit == UNIT_PROPORTION and (metric.ci_method or "") in BINOMIAL_CI_METHODS
    se = se_from_ci(metric.ci_low, metric.ci_high, metric.confidence)
    if binomial and metric.n > 0 and 0 <= bound.threshold <= 1:
        mde = mde_proportion(bound.threshold, metric.n, toward="higher" if bound.upper else "lower")
        toward = bound.threshold + required if bound.upper else bound.threshold - required
        power = power_proportion(bound.threshold, min(max(toward, 0.0), 1.0), metric.n) if required > 0 else None
        method = "analytic: one proportion (arcsine test, one-sided 2.5 %)"
    elif se is not None and se > 0:
        mde = mde_normal(se)
        power = power_normal(required, se) if required > 0 else None
        method = f"normal test with the SE implied by the {metric.ci_method or 'reported'} CI (one-sided 2.5 %)"
    else:
        why = ("its CI has zero width (the resampling saw no variation)" if se == 0
               else "it has no CI and no power formula fits")
        return Power(n=metric.n, required_effect=required, method="none", can_test=False,
                     note=f"cannot test: {metric.name}: {why}")
    can_test = math.isfinite(mde) and (required <= 0 or mde <= required)
    note = None
    if not can_test:
        mde_text = f"{mde:.3g}" if math.isfinite(mde) else "more than the metric's range"
        note = (f"cannot test {gate.label} to within {required:.3g}: at n={metric.n} the smallest violation "
                f"it detects with {DEFAULT_POWER:.0%} power is {mde_text}")
    return Power(n=metric.n, minimum_detectable_effect=mde if math.isfinite(mde) else None,
                 required_effect=required, power=power, target_power=DEFAULT_POWER, method=method,
                 can_test=can_test, note=note)


def judge(gate: Gate, metric: Metric) -> tuple[Verdict, str, Power | None]:
    """(verdict, why, power) of one gate on one metric."""
    if not math.isfinite(metric.value):
        return Verdict.FAIL, f"the value is {metric.value} (undefined), so the gate cannot pass", None
    items = bounds(gate, metric)
    if not items:
        return Verdict.FAIL, "the metric declares no ideal, so max_deviation cannot be judged", None
    bound = binding_bound(metric, items)
    power = gate_power(gate, metric, bound)
    ci = _interval(metric)
    if gate.use_ci and ci is not None:
        verdict = _combine([_side(b, *ci) for b in items])
        where = f"CI [{ci[0]:.4g}, {ci[1]:.4g}]"
    else:
        verdict = _combine([_side(b, metric.value, metric.value) for b in items])
        where = f"point estimate {metric.value:.4g}" + (" (no CI)" if gate.use_ci else " (use_ci: false)")
        if verdict == Verdict.PASS and not power.can_test:
            verdict = Verdict.INCONCLUSIVE
    text = {Verdict.PASS: "inside", Verdict.FAIL: "outside", Verdict.INCONCLUSIVE: "straddles"}[verdict]
    why = f"{where} {text} {bound.text}"
    if verdict == Verdict.INCONCLUSIVE and power.note:
        why += f"; {power.note}"
    return verdict, why, power


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


def severity_of(gate: Gate, verdict: Verdict, on_inconclusive: str = WARN) -> Severity:
    if verdict == Verdict.PASS:
        return Severity.INFO
    if verdict == Verdict.INCONCLUSIVE and on_inconclusive == WARN:
        return Severity.WARN
    return Severity(gate.severity)


WORDS = {Verdict.PASS: "passed", Verdict.FAIL: "violated", Verdict.INCONCLUSIVE: "inconclusive"}


def evaluate_gate(gate: Gate, suites: list[SuiteResult], on_inconclusive: str = WARN
                  ) -> list[tuple[SuiteResult | None, Finding]]:
    """Findings for one gate, each paired with the suite result it belongs to."""
    out: list[tuple[SuiteResult | None, Finding]] = []
    for suite in suites:
        for metric in suite.metrics:
            if not _matches(gate, suite, metric):
                continue
            verdict, why, power = judge(gate, metric)
            message = f"{suite.model}: {gate.label} {WORDS[verdict]} ({why}, n={metric.n})"
            out.append((suite, Finding(severity=severity_of(gate, verdict, on_inconclusive), gate=gate.label,
                                       metric=metric.name, message=message, verdict=verdict, power=power,
                                       evidence=_evidence(gate, suite, metric))))
    if not out:
        out.append((None, Finding(severity=Severity(gate.severity), gate=gate.label, metric=gate.metric,
                                  message=_missing_message(gate, suites), verdict=Verdict.FAIL,
                                  evidence={"group": group_key(gate.group), "condition": gate.condition.value})))
    return out


def apply_gates(gates: list[Gate], suites: list[SuiteResult], on_inconclusive: str = WARN) -> list[Finding]:
    """Attach each gate's findings to their suite results; return the run-level ones."""
    run_level: list[Finding] = []
    for gate in gates:
        for suite, finding in evaluate_gate(gate, suites, on_inconclusive):
            (suite.findings if suite is not None else run_level).append(finding)
    return run_level
