"""The compliance document: everything the HTML, Markdown and PDF outputs show, taken from a stored run.

Pure: an AuditRun in, a ComplianceDocument out. No number is recomputed; each shown value is a
stored metric (with its CI and n), a stored comparison, or a stored provenance record. What the
run cannot show is said: sections without results read "not evidenced by this audit", and each
requirement of the mapping lists the results that evidence it, or says that none do.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from audit.config.sections import ModelCardSpec
from audit.results import AUDITED, AuditRun, Condition, Finding, Metric, Severity, Status, group_label, is_headline
from reports.compliance.catalog import Mapping, load_caveats, load_mapping
from reports.detectability import DetectRow, detect_rows, has_power_table

NOT_EVIDENCED = "not evidenced by this audit"
NOT_STATED = "not stated (set it in the config's model_card block)"
GROUPED_ROWS_PER_METRIC = 40
GROUPS_PER_EVIDENCE = 3      # grouped metrics listed as evidence per metric (the rest are in the tables)


@dataclass(frozen=True)
class ResultRow:
    """One stored metric, where it came from, and the requirements it maps to."""

    suite: str
    model: str
    metric: Metric
    refs: tuple[str, ...]
    headline: bool = False


@dataclass
class Area:
    key: str
    title: str
    overall: list[ResultRow] = field(default_factory=list)
    grouped: list[ResultRow] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.overall and not self.grouped


@dataclass(frozen=True)
class Requirement:
    framework: str
    ref: str
    text: str
    evidence: tuple[str, ...]

    @property
    def evidenced(self) -> bool:
        return bool(self.evidence)


@dataclass(frozen=True)
class ModelRow:
    name: str
    kind: str
    path: str
    sha256: str
    derived_from: str | None = None
    recipe: dict[str, Any] | None = None


@dataclass
class ComplianceDocument:
    run: AuditRun
    title: str
    card: ModelCardSpec
    card_problem: str | None
    models: list[ModelRow]
    areas: list[Area]
    unmapped: list[ResultRow]
    limitations: list[str]
    frameworks: dict[str, tuple[str, list[Requirement]]]
    gates: list[tuple[str, Finding]]
    reproduce: list[str]
    derived: list[ResultRow] = field(default_factory=list)    # about models the run derived: never evidence
    detect: list[DetectRow] = field(default_factory=list)

    @property
    def headline(self) -> list[ResultRow]:
        """Each suite result's declared headline metrics (else its first overall metric): what a reader sees first."""
        rows: list[ResultRow] = []
        seen: set[tuple[str, str]] = set()
        for area in self.areas:
            for row in area.overall + area.grouped:
                if row.headline:
                    rows.append(row)
                    seen.add((row.suite, row.model))
        for area in self.areas:
            for row in area.overall:
                if (row.suite, row.model) not in seen:
                    seen.add((row.suite, row.model))
                    rows.append(row)
        return rows


def model_card(run: AuditRun) -> tuple[ModelCardSpec, str | None]:
    """The config's `model_card:` block as stored in provenance (an empty card if absent or invalid)."""
    raw = run.provenance.config.get("model_card") or {}
    try:
        return ModelCardSpec.model_validate(raw), None
    except ValidationError as exc:
        return ModelCardSpec(), f"the stored model_card block is invalid ({exc.errors()[0]['msg']})"


def _models(run: AuditRun) -> list[ModelRow]:
    rows = []
    for name, m in run.provenance.models.items():
        derived = run.provenance.derived_models.get(name)
        rows.append(ModelRow(name=name, kind=m.kind, path=m.path, sha256=m.sha256,
                             derived_from=derived.base if derived else None, recipe=derived.recipe if derived else None))
    for name, d in run.provenance.derived_models.items():
        if name not in run.provenance.models:
            rows.append(ModelRow(name=name, kind=d.kind, path=d.path, sha256=d.sha256, derived_from=d.base,
                                 recipe=d.recipe))
    return rows


def _areas(run: AuditRun, mapping: Mapping) -> tuple[list[Area], list[ResultRow], list[ResultRow]]:
    areas = {key: Area(key, title) for key, title in mapping.areas.items()}
    unmapped: list[ResultRow] = []
    derived: list[ResultRow] = []
    per_metric: dict[tuple[str, str, str], int] = {}
    for result in run.suites:
        if result.status == Status.ERROR:
            continue
        for metric in result.metrics:
            rule = mapping.rule_for(metric.name, result.suite)
            if metric.subject != AUDITED:
                derived.append(ResultRow(result.suite, result.model, metric, ()))
                continue
            refs = tuple(_refs(mapping, rule.evidence)) if rule else ()
            row = ResultRow(result.suite, result.model, metric, refs,
                            headline=bool(result.headlines) and is_headline(result.headlines, metric.name, metric.group))
            if rule is None:
                if metric.group is None:
                    unmapped.append(row)
                continue
            area = areas[rule.area]
            if metric.group is None and metric.condition == Condition.ORIGINAL:
                area.overall.append(row)
            else:
                key = (result.suite, result.model, metric.name)
                per_metric[key] = per_metric.get(key, 0) + 1
                if per_metric[key] <= GROUPED_ROWS_PER_METRIC or row.headline:
                    area.grouped.append(row)
    return list(areas.values()), unmapped, derived


def _refs(mapping: Mapping, ids: list[str]) -> list[str]:
    return [f.items[i].ref for f in mapping.frameworks.values() for i in ids if i in f.items]


def _requirements(run: AuditRun, mapping: Mapping, areas: list[Area]) -> dict[str, tuple[str, list[Requirement]]]:
    evidence: dict[str, list[str]] = {}

    def add(ids: list[str], label: str) -> None:
        for item in ids:
            labels = evidence.setdefault(item, [])
            if label not in labels:
                labels.append(label)

    for result in run.suites:
        if result.status == Status.ERROR:
            continue
        overall = {m.name for m in result.metrics if m.group is None and m.subject == AUDITED}
        listed: dict[str, int] = {}
        for metric in result.metrics:
            rule = mapping.rule_for(metric.name, result.suite)
            if rule is None or metric.subject != AUDITED:      # a derived model's numbers are not evidence
                continue
            if metric.group is None:
                add(rule.evidence, f"{metric.name} ({result.model})")
            elif metric.name not in overall or is_headline(result.headlines, metric.name, metric.group):
                listed[metric.name] = listed.get(metric.name, 0) + 1     # grouped: with the group in the label
                if listed[metric.name] <= GROUPS_PER_EVIDENCE:
                    add(rule.evidence, f"{metric.name} [{group_label(metric.group)}] ({result.model})")
    present = {"provenance": True, "comparison": run.comparison is not None and run.comparison.status != Status.ERROR,
               "variants": bool(run.variants), "history": any(len(h.points) > 1 for h in run.history),
               "power": has_power_table(run), "selftest": run.selftest is not None and bool(run.selftest.rows)}
    for key, entry in mapping.run.items():
        if present.get(key):
            add(entry.evidence, entry.label)
    out = {}
    for fkey, framework in mapping.frameworks.items():
        out[fkey] = (framework.title, [Requirement(fkey, item.ref, item.text, tuple(evidence.get(iid, [])))
                                       for iid, item in framework.items.items()])
    return out


def _limitations(run: AuditRun, card: ModelCardSpec) -> list[str]:
    names = {m.name for s in run.suites for m in s.metrics}
    datasets = [d.path for d in run.provenance.datasets.values()]
    out = [c.text for c in load_caveats().caveats if c.applies(names, datasets)]
    for result in run.suites:
        if result.status == Status.ERROR:
            out.append(f"The {result.suite} suite could not run on {result.model} ({result.error}); its results are "
                       f"missing from this report.")
        for finding in result.findings:
            if finding.severity == Severity.INFO and finding.gate is None and _is_caveat(finding):
                out.append(f"{result.suite} on {result.model}: {finding.message}")
    small = sorted({f"{m.name} ({s.model}, n={m.n})" for s in run.suites for m in s.metrics
                    if m.group is None and m.n < 100 and m.ci_low is not None})
    if small:
        out.append("Some headline results rest on fewer than 100 examples, so their intervals are wide: "
                   + ", ".join(small[:8]) + ("…" if len(small) > 8 else "") + ".")
    out.append("This audit measures the listed models on the listed data sets only; results on other data, "
               "populations, languages or deployment conditions are not evidenced by it.")
    out.extend(card.limitations)
    return out


CAVEAT_WORDS = ("noisy", "cannot", "could not", "not run", "proxy", "skipped", "truncated", "limit")


def _is_caveat(finding: Finding) -> bool:
    text = finding.message.lower()
    return any(word in text for word in CAVEAT_WORDS)


def _gates(run: AuditRun) -> list[tuple[str, Finding]]:
    rows = [("run", f) for f in run.findings if f.gate]
    rows += [(f"{s.suite} / {s.model}", f) for s in run.suites for f in s.findings if f.gate]
    order = {Severity.FAIL: 0, Severity.WARN: 1, Severity.INFO: 2}
    return sorted(rows, key=lambda r: order[r[1].severity])


def reproduce_commands(run: AuditRun) -> list[str]:
    """The exact commands that re-create the run: the code at its revision, then the recorded command."""
    p = run.provenance
    lines = []
    revision = (p.git_revision or "").removesuffix("-dirty")
    if revision:
        lines.append(f"git checkout {shlex.quote(revision)}")
    lines.append("make install prepare")
    if p.command:
        lines.append(p.command)
    elif p.config_path:
        lines.append(shlex.join(["python", "run_audit.py", "run", p.config_path, "--out", f"runs/{run.run_id}"]))
    return lines


def build_document(run: AuditRun) -> ComplianceDocument:
    mapping = load_mapping()
    card, problem = model_card(run)
    areas, unmapped, derived = _areas(run, mapping)
    names = ", ".join(run.provenance.models) or "the audited models"
    return ComplianceDocument(
        run=run, title=card.title or f"Model card and transparency report: {names}", card=card, card_problem=problem,
        models=_models(run), areas=areas, unmapped=unmapped, limitations=_limitations(run, card),
        frameworks=_requirements(run, mapping, areas), gates=_gates(run), reproduce=reproduce_commands(run),
        derived=derived, detect=detect_rows(run))

