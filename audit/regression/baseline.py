"""`run CONFIG --baseline TAG`: audit and gate in one step, and the history shown with a run.

The comparison with the stored baseline and the history snapshot are computed here, once, and
stored in the run (`AuditRun.comparison`, `AuditRun.history`): renderers only read them.
"""

from __future__ import annotations

from audit.regression.compare import ComparisonRefused, compare_runs
from audit.regression.comparability import first_difference, protocol
from audit.regression.status import overall_status
from audit.config.schema import LoadedConfig
from audit.config.sections import RegressionSpec
from audit.results import COMPARISON_SOURCE, AuditRun, Comparison, Condition, Finding, Severity, Status, group_label

HEADLINES_PER_SUITE = 4


def check_baseline_protocol(baseline: AuditRun, loaded: LoadedConfig, *, force: bool) -> None:
    """Before a run: refuse a baseline made with a different audit protocol (unless forced)."""
    found = first_difference(protocol(baseline.provenance.config), protocol(loaded.raw))
    if found and not force:
        raise ComparisonRefused(f"{loaded.path}: cannot compare with baseline run {baseline.run_id}: the configs "
                                f"differ in {found}; pass --force to compare anyway")


def _gate(ref: str) -> str:
    return f"regression vs {ref}"


def comparison_findings(comparison: Comparison, ref: str) -> list[Finding]:
    gate = _gate(ref)
    if comparison.status == Status.ERROR:
        return [Finding(severity=Severity.FAIL, gate=gate, message=f"{gate}: not compared: {comparison.message}",
                        evidence={"source": COMPARISON_SOURCE})]
    out = []
    for c in comparison.regressions:
        group = f" [{group_label(c.group)}]" if c.group else ""
        out.append(Finding(
            severity=Severity.FAIL, gate=gate, metric=c.metric,
            message=(f"{c.model}: {c.suite} {c.metric}{group} regressed by {c.worse_by:.4g} beyond tolerance "
                     f"{c.tolerance:g} ({c.baseline:.4g} -> {c.candidate:.4g}, {c.test}, "
                     f"adjusted p={c.p_adjusted:.3g}, n={c.n_paired})"),
            evidence={"source": COMPARISON_SOURCE, "difference": c.difference, "ci_low": c.ci_low,
                      "ci_high": c.ci_high, "p_value": c.p_value,
                      "p_adjusted": c.p_adjusted, "baseline_run": comparison.baseline_run_id}))
    if not out:
        out.append(Finding(severity=Severity.INFO, gate=gate,
                           message=f"{gate}: no supported regression in {len(comparison.metrics)} compared metrics "
                                   f"({comparison.correction} correction, alpha {comparison.alpha:g})",
                           evidence={"source": COMPARISON_SOURCE}))
    return out


def attach_comparison(run: AuditRun, baseline: AuditRun, spec: RegressionSpec, *, ref: str,
                      force: bool = False) -> Comparison:
    """Compare `run` with `baseline`, store the comparison and its findings in `run`, set its status:
    error when the comparison was refused or found nothing to compare, failed on a regression."""

    try:
        comparison = compare_runs(baseline, run, spec, force=force, baseline_ref=ref, seed=run.provenance.seed)
    except ComparisonRefused as exc:
        comparison = Comparison(baseline_run_id=baseline.run_id, baseline_ref=ref, candidate_run_id=run.run_id,
                                alpha=spec.alpha, correction=spec.correction, status=Status.ERROR, message=str(exc))
    run.comparison = comparison
    run.findings.extend(comparison_findings(comparison, ref))
    if comparison.status == Status.ERROR:
        run.status = Status.ERROR
    elif run.status != Status.ERROR:
        run.status = overall_status(run.suites, run.findings)
    return comparison


def headline_keys(run: AuditRun, per_suite: int = HEADLINES_PER_SUITE) -> list[tuple[str, str, str]]:
    """(suite, model, metric) of the first overall metrics of each suite result: the trend charts."""
    keys: list[tuple[str, str, str]] = []
    for result in run.suites:
        if result.status == Status.ERROR:
            continue
        names = [m.name for m in result.metrics if m.group is None and m.condition == Condition.ORIGINAL]
        for name in names[:per_suite]:
            key = (result.suite, result.model, name)
            if key not in keys:
                keys.append(key)
    return keys
