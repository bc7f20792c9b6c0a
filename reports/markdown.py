"""Markdown for CI logs and pull-request comments: `summary.md` of a run, and a comparison alone.

Built only from stored results (the run, its comparison and its variants). Text from models or
data is escaped, so a metric or group name cannot inject links, HTML or table breaks.
"""

from __future__ import annotations

import re

from audit.results import AuditRun, Comparison, Severity, Status, VariantReport, group_label
from reports.base import TextFileRenderer
from reports.deltas import (format_bytes, format_change, format_change_ci, format_ms, format_p, ratio, recipe_text,
                            verdict)
from reports.formatting import format_ci, format_value

SUMMARY_FILENAME = "summary.md"
STATUS_MARK = {Status.PASSED: "✅ passed", Status.FAILED: "❌ failed", Status.ERROR: "⛔ error",
               Status.SKIPPED: "⏭ skipped"}
MAX_ROWS = 60
_SPECIAL = re.compile(r"([\\`*_\[\]{}()#+!|~>])")


def md(text: object) -> str:
    """Plain text safe inside Markdown (and its tables): specials escaped, HTML neutralised."""
    value = " ".join(str(text).split())
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", value)


def code(text: object) -> str:
    """Inline code: shown literally (no escapes inside); only backticks and table pipes neutralised."""
    value = " ".join(str(text).split()).replace("`", "'").replace("|", "\\|")
    return f"`{value}`"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def comparison_lines(c: Comparison, title: str) -> list[str]:
    from audit.results.comparison import flagged_first

    lines = [f"### {title}", ""]
    if c.status == Status.ERROR:
        return lines + [f"⛔ **Not compared:** {md(c.message or '')}", ""]
    flagged = c.regressions
    n = sum(ch.same_as is None for ch in c.metrics)
    summary = (f"**{len(flagged)} regression(s)** among {n} compared metrics" if flagged
               else f"No supported regression among {n} compared metrics")
    lines += [f"{summary} ({c.correction} correction, α = {c.alpha:g}; baseline {code(c.baseline_ref or c.baseline_run_id)}"
              f" run {md(c.baseline_run_id)}).", ""]
    for item in c.overridden:
        lines.append(f"- ⚠️ compared with --force although {md(item)}")
    rows = []
    distinct = [ch for ch in c.metrics if ch.same_as is None]
    for ch in flagged_first(distinct)[:MAX_ROWS]:
        label = f"{md(ch.suite)}/{md(ch.model)} {code(ch.metric)}" + (f" {md(group_label(ch.group))}" if ch.group else "")
        mark = "❌ " if ch.regression else ("⬆️ " if ch.improvement else "")
        rows.append([mark + label, format_value(ch.baseline, ch.unit), format_value(ch.candidate, ch.unit),
                     format_change(ch.difference, ch.unit), format_change_ci(ch.ci_low, ch.ci_high, ch.unit),
                     format_p(ch.p_adjusted), str(ch.n_paired), md(ch.test), verdict(ch)])
    lines += _table(["metric", "baseline", "candidate", "change", "CI", "p (adj.)", "n", "test", "verdict"], rows)
    if len(distinct) > MAX_ROWS:
        lines.append(f"\n… and {len(distinct) - MAX_ROWS} more (see results.json)")
    return lines + [""]


def comparison_markdown(c: Comparison) -> str:
    """A standalone Markdown document for `rai-audit compare --markdown`."""
    head = {Status.PASSED: "✅", Status.FAILED: "❌", Status.ERROR: "⛔"}.get(c.status, "")
    lines = [f"## {head} Regression check: {md(c.candidate_run_id)} vs {md(c.baseline_ref or c.baseline_run_id)}", ""]
    return "\n".join(lines + comparison_lines(c, "Compared metrics")) + "\n"


def variant_lines(v: VariantReport) -> list[str]:
    lines = [f"### Variant {code(v.name)} of {code(v.base)}", ""]
    lines += [f"Recipe: {md(recipe_text(v.recipe))}", ""]
    lines += _table(["", md(v.base), md(v.name), "ratio"],
                    [["size on disk", format_bytes(v.base_size_bytes), format_bytes(v.size_bytes),
                      ratio(v.size_bytes, v.base_size_bytes)],
                     ["CPU latency / example", format_ms(v.base_latency_ms.value if v.base_latency_ms else None),
                      format_ms(v.latency_ms.value if v.latency_ms else None),
                      ratio(v.latency_ms.value if v.latency_ms else None,
                            v.base_latency_ms.value if v.base_latency_ms else None)]])
    lines.append("")
    if v.comparison is not None:
        lines += comparison_lines(v.comparison, f"{md(v.name)} against {md(v.base)}")
    lines += [f"- {md(n)}" for n in v.notes]
    return lines + [""]


def run_markdown(run: AuditRun) -> str:
    lines = [f"## Audit {STATUS_MARK.get(run.status, run.status.value)} · run {code(run.run_id)}", ""]
    rows = []
    for s in run.suites:
        heads = [m for m in s.metrics if m.group is None][:3]
        shown = "; ".join(f"{code(m.name)} {format_value(m.value, m.unit)} {format_ci(m.ci_low, m.ci_high, m.unit)}"
                          for m in heads) or "—"
        rows.append([md(s.suite), md(s.model), STATUS_MARK.get(s.status, s.status.value), shown])
    lines += _table(["suite", "model", "status", "headline metrics (95% CI)"], rows) + [""]
    problems = [(f, "run") for f in run.findings] + [(f, f"{s.suite}/{s.model}") for s in run.suites for f in s.findings]
    problems = [(f, where) for f, where in problems if f.severity in (Severity.FAIL, Severity.WARN)]
    if problems:
        lines += ["### Gate findings", ""]
        lines += [f"- **{f.severity.value}** ({md(where)}): {md(f.message)}" for f, where in
                  sorted(problems, key=lambda x: x[0].severity != Severity.FAIL)]
        lines.append("")
    if run.comparison is not None:
        lines += comparison_lines(run.comparison, "Compared with baseline")
    for variant in run.variants:
        lines += variant_lines(variant)
    return "\n".join(lines).rstrip() + "\n"


class MarkdownRenderer(TextFileRenderer):
    """Writes `summary.md` atomically."""

    name = "markdown"
    filename = SUMMARY_FILENAME

    def text(self, run: AuditRun) -> str:
        return run_markdown(run)
