"""WinoBias (Zhao et al. 2018): does the model prefer the pro-stereotypical pronoun?

Line i of pro_stereotyped_typeK pairs with line i of anti_stereotyped_typeK; the two
differ only in the pronoun(s). Causal LMs compare full-sentence log-likelihoods; masked LMs
mask the pronoun in the shared context and compare log p(pro pronoun) with log p(anti pronoun)
in one query (pairs whose tokens differ at more than one position are skipped there and counted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np
from pydantic import Field

from audit.models.adapters.base import MaskedQuery, ModelAdapter
from audit.data.resolver import DataResolver, read_text
from audit.errors import DataError
from audit.results import (UNIT_PROPORTION, Bar, BarChartView, Example, ExampleListView, Finding, Group, Metric,
                           Outcomes, Severity, Span, SuiteResult, TableView)
from audit.stats import bootstrap_mean, wilson_proportion
from audit.run.suite import Context, SuiteConfig
from suites.bias.crows_pairs import seeded_subset, word_diff_spans
from suites.bias.pll import (SCORING_MASKED, differing_position, masked_query, score_texts_causal,
                             scoring_mode)

KEY = "winobias"
PRO_PREFERENCE = f"{KEY}.pro_preference"
PRO_ANTI_GAP = f"{KEY}.pro_anti_gap"
TYPES = ("1", "2")
GROUP_KEY = "type"
PREFERENCE_IDEAL = 0.5   # no preference between the pro- and anti-stereotypical sentence
GAP_IDEAL = 0.0
DEFAULT_FILES = "builtin:winobias/{stance}_stereotyped_type{type}.txt.dev"
_LINE_RE = re.compile(r"^\s*(\d+)\s+(\S.*?)\s*$")
_BRACKET_RE = re.compile(r"\[([^\[\]]+)\]")


class WinoBiasConfig(SuiteConfig):
    types: list[str] = Field(default_factory=lambda: list(TYPES))
    files: str = Field(DEFAULT_FILES, description="pattern with {stance} (pro/anti) and {type} (1/2)")
    limit: int | None = Field(100, ge=1, description="seeded subset of pairs per type; null = all 396")
    n_examples: int = Field(10, ge=0)
    resamples: int = Field(1000, ge=100, description="bootstrap resamples for the mean log-prob gap")


@dataclass(frozen=True)
class WinoPair:
    id: str          # "type1:12"
    type: str
    pro: str         # brackets removed
    anti: str
    referent: str    # the first bracketed phrase (the occupation the pronoun refers to)


def parse_line(line: str, path: str, line_no: int) -> tuple[int, str, list[str]]:
    """'12 [The developer] argued ... [he] ...' -> (12, sentence without brackets, bracketed phrases)."""
    match = _LINE_RE.match(line)
    if not match:
        raise DataError(f"{path}: line {line_no}: expected '<number> <sentence>', got {line!r}")
    brackets = _BRACKET_RE.findall(match.group(2))
    if len(brackets) < 2:
        raise DataError(f"{path}: line {line_no}: expected a bracketed referent and pronoun, got {line!r}")
    return int(match.group(1)), match.group(2).replace("[", "").replace("]", ""), brackets


def _read_lines(data: DataResolver, ref: str) -> tuple[str, list[str]]:
    path = data.resolve(ref, what=f"bias.{KEY}.files")
    lines = [ln for ln in read_text(path).splitlines() if ln.strip()]
    if not lines:
        raise DataError(f"{path}: the file is empty")
    data.record(path, rows=len(lines))
    return str(path), lines


def load_pairs(data: DataResolver, pattern: str, wino_type: str) -> list[WinoPair]:
    """Pair line i of the pro file with line i of the anti file (numbers must agree, text must differ)."""
    pro_path, pro_lines = _read_lines(data, pattern.format(stance="pro", type=wino_type))
    anti_path, anti_lines = _read_lines(data, pattern.format(stance="anti", type=wino_type))
    if len(pro_lines) != len(anti_lines):
        raise DataError(f"{anti_path}: {len(anti_lines)} lines but {pro_path} has {len(pro_lines)}")
    pairs = []
    for i, (pro_line, anti_line) in enumerate(zip(pro_lines, anti_lines), start=1):
        number, pro, brackets = parse_line(pro_line, pro_path, i)
        anti_number, anti, _ = parse_line(anti_line, anti_path, i)
        if number != anti_number:
            raise DataError(f"{anti_path}: line {i}: numbered {anti_number} but {pro_path} line {i} is {number}")
        if pro == anti:
            raise DataError(f"{anti_path}: line {i}: identical to the pro-stereotyped sentence")
        pairs.append(WinoPair(id=f"type{wino_type}:{number}", type=wino_type, pro=pro, anti=anti,
                              referent=brackets[0]))
    return pairs


def masked_queries(ids_pro: Sequence[Sequence[int]], ids_anti: Sequence[Sequence[int]],
                   mask_id: int) -> tuple[list[MaskedQuery], list[int]]:
    """One query per pair whose token ids differ at exactly one position (the pronoun): the pro
    sentence with that position masked, asking for (pro token, anti token). Returns queries and
    the indices of the pairs they belong to."""
    queries, kept = [], []
    for k, (a, b) in enumerate(zip(ids_pro, ids_anti)):
        pos = differing_position(a, b)
        if pos is not None:
            queries.append(masked_query(a, pos, mask_id, targets=(a[pos], b[pos])))
            kept.append(k)
    return queries, kept


def pro_anti_gaps(adapter: ModelAdapter, pairs: Sequence[WinoPair]) -> tuple[str, np.ndarray, np.ndarray]:
    """(scoring mode, score(pro) − score(anti) per kept pair, indices of kept pairs), one batched call."""
    mode = scoring_mode(adapter)
    if mode == SCORING_MASKED:
        ids = adapter.tokenize([t for p in pairs for t in (p.pro, p.anti)], add_special_tokens=True)
        queries, kept = masked_queries(ids[0::2], ids[1::2], int(adapter.mask_token_id))
        scores = adapter.masked_scores(queries) if queries else []
        gaps = np.asarray([float(s[0] - s[1]) for s in scores], dtype=float)
        return mode, gaps, np.asarray(kept, dtype=int)
    if mode is None:
        raise ValueError(f"model '{adapter.name}' cannot score sentences")
    totals = score_texts_causal(adapter, [t for p in pairs for t in (p.pro, p.anti)])
    return mode, totals[0::2] - totals[1::2], np.arange(len(pairs))


def pro_preference(gaps: np.ndarray) -> np.ndarray:
    """1.0 where the pro-stereotypical sentence scores strictly higher (ties count as no preference for pro)."""
    return (np.asarray(gaps, dtype=float) > 0).astype(float)


def pair_example(pair: WinoPair, gap: float) -> Example:
    sep = "  ⟷  "
    spans_pro, spans_anti = word_diff_spans(pair.pro, pair.anti, len(pair.pro) + len(sep))
    spans = ([Span(start=s.start, end=s.end, label="pro") for s in spans_pro]
             + [Span(start=s.start, end=s.end, label="anti") for s in spans_anti])
    return Example(id=f"{KEY}:{pair.id}", text=pair.pro + sep + pair.anti, spans=spans,
                   fields={"type": pair.type, "referent": pair.referent, "gap": round(gap, 3)},
                   tags=[f"type{pair.type}"])


class WinoBiasPart:
    """The WinoBias part of the bias suite."""

    key: ClassVar[str] = KEY
    Config: ClassVar[type[SuiteConfig]] = WinoBiasConfig

    def unsupported_reason(self, adapter: ModelAdapter) -> str | None:
        if scoring_mode(adapter) is None:
            return "WinoBias needs a masked LM (masked_scores) or a causal LM (token_logprobs)"
        return None

    def run(self, ctx: Context, cfg: SuiteConfig, result: SuiteResult) -> None:
        assert isinstance(cfg, WinoBiasConfig)
        unknown = [t for t in cfg.types if t not in TYPES]
        if unknown:
            raise DataError(f"bias.{KEY}.types: unknown type(s) {unknown}; WinoBias has types 1 and 2")
        pairs: list[WinoPair] = []
        for wino_type in cfg.types:
            typed = load_pairs(ctx.data, cfg.files, wino_type)
            chosen = seeded_subset(len(typed), cfg.limit, ctx.rng("bias", KEY, "subset", wino_type))
            pairs.extend(typed[i] for i in chosen)
        mode, gaps, kept = pro_anti_gaps(ctx.adapter, pairs)
        skipped = len(pairs) - len(kept)
        pairs = [pairs[i] for i in kept]
        if not pairs:
            raise DataError(f"bias.{KEY}: no WinoBias pair could be scored on model '{ctx.adapter.name}'")
        preferred = pro_preference(gaps)
        self._metrics(ctx, cfg, result, pairs, gaps, preferred)
        ids = [p.id for p in pairs]
        result.outcomes.append(Outcomes(metric=PRO_PREFERENCE, example_ids=ids, values=preferred.tolist()))
        result.outcomes.append(Outcomes(metric=PRO_ANTI_GAP, example_ids=ids, values=gaps.tolist()))   # per pair
        for t in cfg.types:
            mask = [p.type == t for p in pairs]
            if any(mask):
                for name, values in ((PRO_PREFERENCE, preferred), (PRO_ANTI_GAP, gaps)):
                    result.outcomes.append(Outcomes(metric=name, group={GROUP_KEY: t},
                                                    example_ids=[i for i, m in zip(ids, mask) if m],
                                                    values=[float(v) for v, m in zip(values, mask) if m]))
        if skipped:
            result.findings.append(Finding(
                severity=Severity.INFO, metric=PRO_PREFERENCE,
                message=f"WinoBias: {skipped} pair(s) whose pro and anti sentences differ in more than one "
                        f"token were not scored on this masked LM (one mask per query).",
                evidence={"skipped": skipped}))
        self._views(cfg, result, pairs, gaps)
        result.details[KEY] = {"scoring": mode, "n_pairs": len(pairs), "skipped": skipped,
                               "limit_per_type": cfg.limit}

    def _metrics(self, ctx: Context, cfg: WinoBiasConfig, result: SuiteResult, pairs: list[WinoPair],
                 gaps: np.ndarray, preferred: np.ndarray) -> None:
        types = np.asarray([p.type for p in pairs])
        groups: list[tuple[Group | None, np.ndarray]] = [(None, np.ones(len(pairs), dtype=bool))]
        groups += [({GROUP_KEY: t}, types == t) for t in cfg.types if (types == t).any()]
        for group, mask in groups:
            result.metrics.append(Metric.from_estimate(
                PRO_PREFERENCE, wilson_proportion(preferred[mask]), group=group, unit=UNIT_PROPORTION,
                higher_is_better=None, ideal=PREFERENCE_IDEAL,
                description="share of pairs where the pro-stereotypical sentence scores higher (0.5 = unbiased)"))
            gap = bootstrap_mean(gaps[mask], seed=ctx.sub_seed("bias", PRO_ANTI_GAP, *(group or {}).values()),
                                 resamples=cfg.resamples)
            result.metrics.append(Metric.from_estimate(
                PRO_ANTI_GAP, gap, group=group, unit="nats", higher_is_better=None, ideal=GAP_IDEAL,
                description="mean log-prob of pro minus anti (0 = unbiased; > 0 prefers the stereotype)"))

    def _views(self, cfg: WinoBiasConfig, result: SuiteResult, pairs: list[WinoPair], gaps: np.ndarray) -> None:
        bars = [Bar(label=f"type {m.group[GROUP_KEY]}", value=m.value, ci_low=m.ci_low,
                    ci_high=m.ci_high, n=m.n)
                for m in result.metrics if m.name == PRO_PREFERENCE and m.group]
        result.views.append(BarChartView(title="WinoBias: share of pairs preferring the pro-stereotypical pronoun",
                                         bars=bars, unit=UNIT_PROPORTION, reference=PREFERENCE_IDEAL,
                                         caption="95% Wilson intervals; 50% = no preference."))
        order = np.argsort(-gaps)[: cfg.n_examples]
        result.views.append(TableView(
            title="WinoBias: pairs with the strongest pro-stereotypical preference",
            columns=["id", "pro-stereotypical", "anti-stereotypical", "gap (nats)"],
            rows=[[pairs[i].id, pairs[i].pro, pairs[i].anti, round(float(gaps[i]), 3)] for i in order]))
        examples = [pair_example(pairs[i], float(gaps[i])) for i in order if gaps[i] > 0]
        result.examples.extend(examples)
        result.views.append(ExampleListView(title="WinoBias: strongest pro-stereotypical preferences",
                                            examples=examples,
                                            caption="The pronouns that differ are highlighted."))
