"""The compliance report as Markdown (same content as the HTML, for repositories and reviews)."""

from __future__ import annotations

from reports.compliance.document import NOT_EVIDENCED, NOT_STATED, ComplianceDocument, ResultRow
from reports.deltas import (format_bytes, format_change, format_change_ci, format_ms, format_p, ratio, recipe_text,
                            verdict)
from reports.formatting import format_ci, format_group, format_number, format_value
from reports.markdown import code, md


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
            + ["| " + " | ".join(r) + " |" for r in rows] + [""])


def _results(rows: list[ResultRow], with_group: bool = False) -> list[str]:
    header = ["metric", "model"] + (["group"] if with_group else []) + ["value", "95% CI", "n", "maps to"]
    body = []
    for row in rows:
        m = row.metric
        cells = [code(m.name), md(row.model)] + ([md(format_group(m.group))] if with_group else [])
        cells += [format_value(m.value, m.unit), format_ci(m.ci_low, m.ci_high, m.unit), format_number(m.n),
                  md(", ".join(row.refs) or "—")]
        body.append(cells)
    return _table(header, body)


def _listing(items: list[str]) -> list[str]:
    return [f"- {md(i)}" for i in items] + [""] if items else [f"*{NOT_STATED}*", ""]


def compliance_markdown(doc: ComplianceDocument) -> str:
    run, card, prov = doc.run, doc.card, doc.run.provenance
    out = [f"# {md(doc.title)}", "", f"Model card and transparency report · run {code(run.run_id)} · "
           f"{md(prov.started_at or '—')} · status **{run.status.value}**", "",
           "Every number is read from the run's stored results.json; none is recomputed.", "", "## Summary", ""]
    if card.description:
        out += [md(card.description), ""]
    out += _results(doc.headline)
    out += ["## Model details", ""]
    out += _table(["model", "kind", "derived from", "sha256"],
                  [[md(m.name), md(m.kind), md(f"{m.derived_from}: {recipe_text(m.recipe or {})}" if m.derived_from else "—"),
                    code(m.sha256)] for m in doc.models])
    for label, value in (("Owners", card.owners), ("Contact", card.contact), ("Version", card.version),
                         ("Licence", card.license), ("Training data", card.training_data)):
        out.append(f"- **{label}:** {md(value) if value else '*' + NOT_STATED + '*'}")
    out += ["", "## Intended use", "", "### Intended uses", ""] + _listing(card.intended_uses)
    out += ["### Intended users", ""] + _listing(card.intended_users)
    out += ["### Out-of-scope uses", ""] + _listing(card.out_of_scope_uses)
    out += ["## Evaluation data", ""]
    out += _table(["data set", "rows", "sha256"], [[md(d.path or k), format_number(d.rows), code(d.sha256)]
                                                   for k, d in prov.datasets.items()])
    for area in doc.areas:
        out += [f"## {md(area.title)}", ""]
        if area.empty:
            out += [f"*{NOT_EVIDENCED}*", ""]
            continue
        out += _results(area.overall) if area.overall else []
        out += (["By group or condition:", ""] + _results(area.grouped, True)) if area.grouped else []
    out += ["## Derived models", "", "Numbers about models the run derived (never evidence for the audited model).", ""]
    out += _results(doc.derived, True) if doc.derived else ["*This run reports no metric about a derived model.*", ""]
    out += ["## What this audit could detect", ""]
    out += _table(["verdict", "what", "where", "n", "min. detectable effect", "power", "note"],
                  [[r.verdict, code(r.label), md(r.where), format_number(r.n), format_number(r.mde),
                    format_number(r.power), ("**cannot test** " if not r.can_test else "") + md(r.note or "")]
                   for r in doc.detect]) if doc.detect else ["*No verdict of this run records its power.*", ""]
    out += ["## Changes and compression", ""]
    if run.comparison is not None:
        c = run.comparison
        out.append(f"Compared with baseline {code(c.baseline_ref or c.baseline_run_id)}: "
                   + (f"not compared ({md(c.message or '')})" if c.status.value == "error" else
                      f"{len(c.regressions)} supported regression(s) among {sum(x.same_as is None for x in c.metrics)} metrics "
                      f"({c.correction}, α = {c.alpha:g})."))
        out += [""] + _table(["metric", "change [CI]", "p (adj.)", "verdict"],
                             [[f"{code(ch.metric)} {md(format_group(ch.group)) if ch.group else ''}",
                               f"{format_change(ch.difference, ch.unit)} {format_change_ci(ch.ci_low, ch.ci_high, ch.unit)}",
                               format_p(ch.p_adjusted), verdict(ch)] for ch in c.metrics if ch.same_as is None][:40])
    for v in run.variants:
        lat = v.latency_ms.value if v.latency_ms else None
        base_lat = v.base_latency_ms.value if v.base_latency_ms else None
        out += [f"Variant {code(v.name)} of {code(v.base)} ({md(recipe_text(v.recipe))}): size {format_bytes(v.size_bytes)} vs "
                f"{format_bytes(v.base_size_bytes)} ({ratio(v.size_bytes, v.base_size_bytes)}), CPU latency "
                f"{format_ms(lat)} vs {format_ms(base_lat)} per example.", ""]
        if v.comparison is not None:
            out += _table(["metric", "change [CI]", "p (adj.)", "verdict"],
                          [[code(ch.metric), f"{format_change(ch.difference, ch.unit)} "
                            f"{format_change_ci(ch.ci_low, ch.ci_high, ch.unit)}", format_p(ch.p_adjusted),
                            verdict(ch)] for ch in v.comparison.metrics if ch.same_as is None][:20])
    if run.comparison is None and not run.variants:
        out += [f"*{NOT_EVIDENCED}*", ""]
    out += ["## Known limitations", ""] + [f"- {md(item)}" for item in doc.limitations] + [""]
    out += ["## Regulatory mapping", "", "A mapping is evidence for a reviewer to weigh, not a finding of conformity.", ""]
    for title, requirements in doc.frameworks.values():
        out += [f"### {md(title)}", ""]
        out += _table(["item", "requirement (paraphrased)", "evidence in this run"],
                      [[md(r.ref), md(r.text), md("; ".join(r.evidence)) if r.evidenced else f"*{NOT_EVIDENCED}*"]
                       for r in requirements])
    out += ["## Gates", ""]
    out += _table(["result", "where", "gate", "message"],
                  [[f.severity.value, md(where), code(f.gate), md(f.message)] for where, f in doc.gates]) \
        if doc.gates else ["*The config defines no gates.*", ""]
    out += ["## Provenance and reproduction", ""]
    for label, value in (("config", prov.config_path), ("config sha256", prov.config_sha256),
                         ("code revision", prov.git_revision), ("code sha256", prov.code_sha256),
                         ("device", prov.device), ("seed", prov.seed)):
        out.append(f"- **{label}:** {code(value) if value not in (None, '') else '—'}")
    out += ["", "```", *doc.reproduce, "```", ""]
    return "\n".join(out)
