"""Template probes: group words x attribute words in templates, as data shipped with the suite.

Masked LMs: Kurita et al. 2019 log-probability bias score. For a template with the attribute
filled and the target masked, p_tgt = P(target word at the mask); with the target AND the
attribute masked (one mask per attribute word-piece), p_prior = P(target word at the target
mask); score = log(p_tgt / p_prior). Causal LMs: score = log-likelihood of the filled sentence.
Association per (template, attribute) = mean score of group A's words − mean of group B's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np
from pydantic import Field

from audit.models.adapters.base import Capability, MaskedQuery, ModelAdapter
from audit.errors import DataError
from audit.results import (Bar, BarChartView, Example, ExampleListView, Finding, Group, Metric, Severity, Span,
                           SuiteResult, TableView)
from audit.stats import bootstrap_estimate, bootstrap_mean
from audit.run.suite import Context, SuiteConfig
from suites.bias.template_probes import (DEFAULT_PROBES, KEY, Attribute, Template,
                                        balanced_subset, fill, load_probes)
from suites.bias.pll import SCORING_MASKED, replaced_span, score_texts_causal, scoring_mode

ASSOCIATION = f"{KEY}.association"
STEREOTYPE_GAP = f"{KEY}.stereotype_gap"
TEMPLATE_KEY = "template"       # group {"template": "t03"}: a short stable id, the sentence is in the table
STEREOTYPE_KEY = "stereotype"   # group {"stereotype": "male"}
IDEAL = 0.0                     # no association either way


class TemplateProbeConfig(SuiteConfig):
    probes: str = Field(DEFAULT_PROBES, description="probe YAML: 'suite:NAME' (shipped), builtin:, or a path")
    groups: list[str] | None = Field(None, min_length=2, max_length=2,
                                     description="[A, B] to compare; default: the file's first two groups")
    limit: int | None = Field(16, ge=2, description="seeded subset of attributes, balanced by label; null = all 40")
    top_k: int = Field(5, ge=1)
    resamples: int = Field(1000, ge=100)


# ---------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Cell:
    """One (template, attribute): its association and the words that could not be scored."""

    template: Template
    attribute: Attribute
    association: float
    skipped_words: tuple[str, ...] = ()


def kurita_queries(adapter: ModelAdapter, template: Template, attribute: Attribute,
                   words: Sequence[str]) -> tuple[MaskedQuery, MaskedQuery, list[str]] | None:
    """The two Kurita queries (target masked; target and attribute masked) asking for every
    single-token word at the target position, and the words that fit; None when no word is a
    single token for this tokenizer."""
    mask_token, mask_id = adapter.mask_token, adapter.mask_token_id
    text = template.text
    texts = [fill(text, mask_token, attribute.word)] + [fill(text, w, attribute.word) for w in words]
    texts += [fill(text, w, mask_token, article_for=attribute.word) for w in words]
    ids = adapter.tokenize(texts, add_special_tokens=True)
    target_masked, filled, attr_masked = ids[0], ids[1:1 + len(words)], ids[1 + len(words):]
    kept: list[str] = []
    target_ids: list[int] = []
    position, attr_span = -1, None
    for word, full, attr_mask in zip(words, filled, attr_masked):
        span = replaced_span(full, target_masked, mask_id)
        if span is None or span[1] - span[0] != 1:
            continue  # multi-token target word: Kurita's score is defined for one mask
        position = span[0]
        kept.append(word)
        target_ids.append(int(full[position]))
        attr_span = attr_span or replaced_span(full, attr_mask, mask_id)
    if not kept:
        return None
    if attr_span is None:
        raise DataError(f"bias.{KEY}: template {template.index} ({template.text!r}) with attribute "
                        f"{attribute.word!r}: cannot locate the attribute in the model's tokens")
    prior = list(target_masked)
    for p in range(*attr_span):
        prior[p] = mask_id
    targets = tuple(target_ids)
    return (MaskedQuery(tuple(target_masked), position, targets), MaskedQuery(tuple(prior), position, targets),
            kept)


def masked_cells(adapter: ModelAdapter, templates: Sequence[Template], attributes: Sequence[Attribute],
                 groups: Sequence[str]) -> list[Cell]:
    """Kurita association of every (template, attribute), all queries in ONE masked_scores call."""
    plans = []
    queries: list[MaskedQuery] = []
    for template in templates:
        words = [w for g in groups for w in template.targets[g]]
        for attribute in attributes:
            built = kurita_queries(adapter, template, attribute, words)
            kept = built[2] if built else []
            plans.append((template, attribute, words, kept, len(queries)))
            if built:
                queries.extend(built[:2])
    scores = adapter.masked_scores(queries) if queries else []
    cells = []
    for template, attribute, words, kept, at in plans:
        log_ratio = dict(zip(kept, (scores[at] - scores[at + 1]).tolist())) if kept else {}
        cells.append(_cell(template, attribute, groups, log_ratio, words))
    return cells


def causal_cells(adapter: ModelAdapter, templates: Sequence[Template], attributes: Sequence[Attribute],
                 groups: Sequence[str]) -> list[Cell]:
    """Log-likelihood association of every (template, attribute), all sentences in ONE call."""
    plans, texts = [], []
    for template in templates:
        words = [w for g in groups for w in template.targets[g]]
        for attribute in attributes:
            plans.append((template, attribute, words, len(texts)))
            texts.extend(fill(template.text, w, attribute.word) for w in words)
    totals = score_texts_causal(adapter, texts)
    return [_cell(template, attribute, groups, dict(zip(words, totals[at:at + len(words)].tolist())), words)
            for template, attribute, words, at in plans]


def _cell(template: Template, attribute: Attribute, groups: Sequence[str], scores: dict[str, float],
          words: Sequence[str]) -> Cell:
    """association = mean score of group A's scored words − mean of group B's (NaN if a side is empty)."""
    means = []
    for g in groups[:2]:
        vals = [scores[w] for w in template.targets[g] if w in scores]
        means.append(float(np.mean(vals)) if vals else float("nan"))
    skipped = tuple(w for w in words if w not in scores)
    return Cell(template, attribute, means[0] - means[1], skipped)


# ---------------------------------------------------------------- metrics


def per_attribute(cells: Sequence[Cell], attributes: Sequence[Attribute]) -> np.ndarray:
    """Mean association of each attribute over the templates (the unit the CIs resample)."""
    index = {a: i for i, a in enumerate(attributes)}
    sums = np.zeros(len(attributes))
    counts = np.zeros(len(attributes))
    for c in cells:
        if np.isfinite(c.association):
            sums[index[c.attribute]] += c.association
            counts[index[c.attribute]] += 1
    with np.errstate(invalid="ignore"):
        return sums / counts


def stereotype_gap(values: np.ndarray, labels: np.ndarray, label_a: str, label_b: str) -> float:
    """Mean association on A-stereotyped attributes − on B-stereotyped ones (NaN if a side is empty)."""
    a, b = values[labels == label_a], values[labels == label_b]
    return float(a.mean() - b.mean()) if a.size and b.size else float("nan")


class TemplateProbePart:
    """The template-probe part of the bias suite."""

    key: ClassVar[str] = KEY
    Config: ClassVar[type[SuiteConfig]] = TemplateProbeConfig

    def unsupported_reason(self, adapter: ModelAdapter) -> str | None:
        if scoring_mode(adapter) is None:
            return "template probes need a masked LM (masked_scores) or a causal LM (token_logprobs)"
        return None

    def run(self, ctx: Context, cfg: SuiteConfig, result: SuiteResult) -> None:
        assert isinstance(cfg, TemplateProbeConfig)
        probes = load_probes(ctx.data, cfg.probes)
        groups = cfg.groups or probes.groups[:2]
        unknown = [g for g in groups if g not in probes.groups]
        if unknown:
            raise DataError(f"bias.{KEY}.groups: {unknown[0]!r} is not a group of {probes.path}; "
                            f"groups are {probes.groups}")
        attributes = balanced_subset(probes.attributes, cfg.limit, ctx.rng("bias", KEY, "subset"))
        mode = scoring_mode(ctx.adapter)
        score = masked_cells if mode == SCORING_MASKED else causal_cells
        cells = score(ctx.adapter, probes.templates, attributes, groups)
        values = per_attribute(cells, attributes)
        keep = np.isfinite(values)
        if not keep.any():
            raise DataError(f"{probes.path}: no target word of groups {groups} is a single token for "
                            f"model '{ctx.adapter.name}'")
        self._metrics(ctx, cfg, result, cells, attributes, values, groups)
        self._views(result, cells, [a for a, k in zip(attributes, keep) if k], values[keep], groups)
        if mode == SCORING_MASKED and Capability.MASK_FILL in ctx.adapter.capabilities:
            self._fill_examples(ctx, cfg, result, cells)
        skipped = sorted({w for c in cells for w in c.skipped_words})
        if skipped:
            result.findings.append(Finding(
                severity=Severity.WARN, metric=ASSOCIATION,
                message=f"template probes: target word(s) {', '.join(skipped)} are several tokens for this "
                        f"model and were left out (the log-probability bias score needs one mask).",
                evidence={"skipped_words": skipped}))
        result.details[KEY] = {"scoring": mode, "probes": probes.path, "groups": list(groups),
                               "n_templates": len(probes.templates), "n_attributes": int(keep.sum()),
                               "n_attributes_available": len(probes.attributes),
                               "method": "Kurita et al. 2019 log-probability bias score" if mode == SCORING_MASKED
                               else "sentence log-likelihood difference (causal LM)"}

    def _metrics(self, ctx: Context, cfg: TemplateProbeConfig, result: SuiteResult, cells: list[Cell],
                 attributes: list[Attribute], values: np.ndarray, groups: Sequence[str]) -> None:
        label_a, label_b = groups[0], groups[1]
        desc = (f"mean log-prob association {label_a} − {label_b} (nats; 0 = none; > 0 leans {label_a})")
        keep = np.isfinite(values)
        labels = np.asarray([a.label for a in attributes])[keep]
        vals = values[keep]

        def add_mean(name: str, data: np.ndarray, group: Group | None, description: str) -> None:
            data = data[np.isfinite(data)]
            if data.size:
                seed = ctx.sub_seed("bias", name, *(group or {}).items())
                est = bootstrap_mean(data, seed=seed, resamples=cfg.resamples)
                result.metrics.append(Metric.from_estimate(name, est, group=group, unit="nats", ideal=IDEAL,
                                                           higher_is_better=None, description=description))

        add_mean(ASSOCIATION, vals, None, desc + "; averaged over templates, CI over attributes")
        for label in (label_a, label_b):
            add_mean(ASSOCIATION, vals[labels == label], {STEREOTYPE_KEY: label},
                     desc + f"; on {label}-stereotyped attributes")
        for template in {c.template.index: c.template for c in cells}.values():
            per_template = np.asarray([c.association for c in cells if c.template.index == template.index])
            add_mean(ASSOCIATION, per_template, {TEMPLATE_KEY: template.id},
                     desc + f"; template {template.id} ({template.text!r}), CI over attributes")
        if (labels == label_a).any() and (labels == label_b).any():
            est = bootstrap_estimate(lambda idx: stereotype_gap(vals[idx], labels[idx], label_a, label_b),
                                     vals.size, seed=ctx.sub_seed("bias", STEREOTYPE_GAP), resamples=cfg.resamples)
            result.metrics.append(Metric.from_estimate(
                STEREOTYPE_GAP, est, unit="nats", higher_is_better=None, ideal=IDEAL,
                description=f"association on {label_a}-stereotyped minus on {label_b}-stereotyped attributes "
                            f"(0 = unbiased; > 0 = associations follow the stereotype)"))

    def _views(self, result: SuiteResult, cells: list[Cell], attributes: list[Attribute], values: np.ndarray,
               groups: Sequence[str]) -> None:
        texts = {c.template.id: c.template.text for c in cells}
        bars = [Bar(label=_bar_label(m.group, texts), value=m.value, ci_low=m.ci_low, ci_high=m.ci_high, n=m.n)
                for m in result.metrics if m.name == ASSOCIATION and m.group]
        result.views.append(BarChartView(
            title=f"Template probes: association {groups[0]} − {groups[1]} by attribute stereotype and template",
            bars=bars, unit="nats", reference=0.0,
            caption="95% bootstrap CIs over attributes; 0 = no association; a gap between the stereotype bars "
                    "is the bias."))
        label_a, label_b = groups[0], groups[1]
        rows = []
        for template in {c.template.index: c.template for c in cells}.values():
            mine = [c for c in cells if c.template.index == template.index and np.isfinite(c.association)]
            a = [c.association for c in mine if c.attribute.label == label_a]
            b = [c.association for c in mine if c.attribute.label == label_b]
            gap = float(np.mean(a) - np.mean(b)) if a and b else float("nan")
            rows.append([template.id, template.text, _r(np.mean(a) if a else np.nan),
                         _r(np.mean(b) if b else np.nan), _r(gap)])
        rows.sort(key=lambda r: -r[4] if r[4] is not None else np.inf)
        result.views.append(TableView(
            title="Template probes: templates by stereotype gap",
            columns=["id", "template", f"association on {label_a}-stereotyped",
                     f"association on {label_b}-stereotyped", "gap"], rows=rows,
            caption=f"Associations in nats (log-prob differences). The id is the metric group "
                    f"{{{TEMPLATE_KEY!r}: id}} of {ASSOCIATION}."))
        order = np.argsort(-np.abs(values))[:10]
        result.views.append(TableView(
            title="Template probes: most strongly associated attributes",
            columns=["attribute", "stereotype", f"association {label_a} − {label_b}"],
            rows=[[attributes[i].word, attributes[i].label, _r(values[i])] for i in order]))

    def _fill_examples(self, ctx: Context, cfg: TemplateProbeConfig, result: SuiteResult,
                       cells: list[Cell]) -> None:
        """Top-k fills of the target slot, per template, for its most strongly associated attribute."""
        picked: dict[int, Cell] = {}
        for c in cells:
            best = picked.get(c.template.index)
            if np.isfinite(c.association) and (best is None or abs(c.association) > abs(best.association)):
                picked[c.template.index] = c
        chosen = list(picked.values())
        texts = [fill(c.template.text, ctx.adapter.mask_token, c.attribute.word) for c in chosen]
        fills = ctx.adapter.mask_fill(texts, top_k=cfg.top_k)
        examples = []
        for c, text, top in zip(chosen, texts, fills):
            start = text.find(c.attribute.word)
            spans = [Span(start=start, end=start + len(c.attribute.word), label=c.attribute.label)] if start >= 0 else []
            examples.append(Example(
                id=f"{KEY}:{c.template.index}:{c.attribute.word}", text=text, spans=spans,
                fields={"top_fills": ", ".join(f"{f.token} ({f.prob:.3f})" for f in top),
                        "association": _r(c.association)},
                tags=[f"template {c.template.id}"]))
        result.examples.extend(examples)
        result.views.append(ExampleListView(title="Template probes: what the model fills in for the target slot",
                                            examples=examples, caption=f"Top-{cfg.top_k} fills with probabilities."))


def _bar_label(group: Group, texts: dict[str, str]) -> str:
    """'stereotype: male', or 't03 · <the template sentence>'."""
    if TEMPLATE_KEY in group:
        return f"{group[TEMPLATE_KEY]} · {texts.get(group[TEMPLATE_KEY], '')}"
    return ", ".join(f"{k}: {v}" for k, v in group.items())


def _r(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None
