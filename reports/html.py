"""The HTML report: one self-contained page (inline CSS and SVG) built from an `AuditRun`.

Summary verdicts first, then one section per suite × model with findings, metrics
and every view drawn by its type, then provenance. Jinja autoescaping is on for the
whole page; the only `Markup` that enters it is SVG built (and escaped) by
`reports.charts`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from types import MappingProxyType

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from audit.results import AuditRun, Finding, Metric, Severity, SuiteResult
from reports import colors
from reports.base import TextFileRenderer
from reports.charts import bar_chart_svg, line_chart_svg, matrix_heatmap_svg
from reports.formatting import (
    format_cell,
    format_ci,
    format_duration,
    format_group,
    format_level,
    format_number,
    format_value,
    pretty_json,
)
from reports.highlight import segments
from reports.deltas import (describe_test, format_bytes, format_change, format_change_ci, format_ms, format_p, ratio,
                            recipe_text, verdict)
from reports.trends import trend_view

TEMPLATE_PACKAGE = "reports"
TEMPLATE_FOLDER = "templates"
TEMPLATE_NAME = "report.html.j2"
REPORT_FILENAME = "report.html"

MAX_HEADLINES = 4
MAX_TABLE_ROWS = 500
MAX_EXAMPLES = 200
MAX_TOKEN_ROWS = 100
SEVERITY_ORDER = MappingProxyType({Severity.FAIL: 0, Severity.WARN: 1, Severity.INFO: 2})
RUN_SOURCE = "run"
MIN_TREND_POINTS = 2     # a trend chart needs at least two stored runs


@dataclass(frozen=True)
class Section:
    """One suite × model result, prepared for the template."""

    anchor: str
    result: SuiteResult
    headline: list[Metric]
    findings: list[Finding]
    grouped: dict[str, list[Metric]]
    fails: int
    warns: int


@dataclass(frozen=True)
class FindingRow:
    """A finding with where it came from (a suite × model section, or the run itself)."""

    source: str
    anchor: str
    finding: Finding


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _count(findings: list[Finding], severity: Severity) -> int:
    return sum(f.severity == severity for f in findings)


def build_section(index: int, result: SuiteResult) -> Section:
    grouped: dict[str, list[Metric]] = defaultdict(list)
    for metric in result.metrics:
        if metric.group is not None:
            grouped[metric.name].append(metric)
    return Section(
        anchor=f"s{index}-{_slug(result.suite)}-{_slug(result.model)}",
        result=result,
        headline=[m for m in result.metrics if m.group is None],
        findings=sorted(result.findings, key=lambda f: SEVERITY_ORDER[f.severity]),
        grouped=dict(grouped),
        fails=_count(result.findings, Severity.FAIL),
        warns=_count(result.findings, Severity.WARN),
    )


def gate_findings(run: AuditRun, sections: list[Section]) -> list[FindingRow]:
    """Fail and warn findings of the run and of every section, fails first."""
    rows = [FindingRow(RUN_SOURCE, "summary", f) for f in run.findings]
    for section in sections:
        source = f"{section.result.suite} / {section.result.model}"
        rows.extend(FindingRow(source, section.anchor, f) for f in section.result.findings)
    rows = [r for r in rows if r.finding.severity in (Severity.FAIL, Severity.WARN)]
    return sorted(rows, key=lambda r: SEVERITY_ORDER[r.finding.severity])


def build_environment() -> Environment:
    """Jinja environment with autoescaping everywhere and templates loaded from the package."""
    env = Environment(
        loader=PackageLoader(TEMPLATE_PACKAGE, TEMPLATE_FOLDER),
        autoescape=select_autoescape(enabled_extensions=("html", "j2", "xml"), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=format_number, value=format_value, ci=format_ci, duration=format_duration, cell=format_cell,
        json=pretty_json, level=format_level, group=format_group,
    )
    env.globals.update(
        bar_chart=bar_chart_svg,
        line_chart=line_chart_svg,
        matrix_heatmap=matrix_heatmap_svg,
        segments=segments,
        zip=zip,
        token_style=colors.cell_style,
        max_abs=colors.max_abs,
        max_headlines=MAX_HEADLINES,
        max_table_rows=MAX_TABLE_ROWS,
        max_examples=MAX_EXAMPLES,
        max_token_rows=MAX_TOKEN_ROWS,
    )
    add_comparison_helpers(env)
    return env


def add_comparison_helpers(env: Environment) -> None:
    """Filters and globals of the comparison, variant and history sections (_compare.html.j2)."""
    from audit.results.comparison import flagged_first

    env.filters.update(change=format_change, change_ci=format_change_ci, p=format_p, bytes=format_bytes,
                       ms=format_ms, recipe=recipe_text)
    env.globals.update(flagged_first=flagged_first, describe_test=describe_test, verdict=verdict, ratio=ratio,
                       trends=lambda run: [h for h in run.history if len(h.points) >= MIN_TREND_POINTS],
                       variants_flagged_first=lambda variants: sorted(
                           variants, key=lambda v: not (v.comparison and v.comparison.regressions)),
                       trend_chart=lambda h: line_chart_svg(trend_view(h)),
                       trend_caption=lambda h: trend_view(h).caption)


def render_html(run: AuditRun) -> str:
    """The whole page as a string (pure: no files touched)."""
    sections = [build_section(i, result) for i, result in enumerate(run.suites)]
    template = build_environment().get_template(TEMPLATE_NAME)
    return template.render(run=run, sections=sections, gate_findings=gate_findings(run, sections))


class HtmlRenderer(TextFileRenderer):
    """Writes `report.html` atomically."""

    name = "html"
    filename = REPORT_FILENAME

    def text(self, run: AuditRun) -> str:
        return render_html(run)
