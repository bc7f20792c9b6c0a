"""Counterfactual identity swaps on classifiers: does swapping who a sentence is about change the output?

Two real sources: gender word swaps (WinoBias lists) in rt_polarity sentences, and HateCheck cases
re-filled with each other target identity. Every original and variant goes to `adapter.classify`
in one call. Pairs sharing an original are correlated, so the CIs account for the clusters: the flip
rate (a proportion) gets a Wilson interval on the Kish effective sample size (design effect from the
cluster-robust variance; see audit.stats.clustered_wilson), and the mean |Δp| a bootstrap over
originals. Both are wider than if the pairs were independent, and neither collapses on a group
without flips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from audit.models.adapters.base import Capability, ModelAdapter
from audit.data.resolver import read_text
from audit.errors import ConfigError, DataError
from audit.results import (UNIT_PROPORTION, Bar, BarChartView, Estimate, Example, ExampleListView, Finding, Group,
                           MatrixHeatmapView, Metric, Outcomes, Severity, Span, SuiteResult, TableView, group_key,
                           group_label)
from audit.stats import bootstrap_estimate, clustered_wilson
from audit.run.suite import Context, SuiteConfig
from suites.bias.swaps import (build_swap_table, hatecheck_variants, learn_identity_terms, parse_swap_lines,
                               require_hatecheck_columns, swap_pattern, swap_words)

KEY = "counterfactual"
FLIP_RATE = f"{KEY}.flip_rate"
MEAN_ABS_DELTA = f"{KEY}.mean_abs_delta"
SOURCE_GENDER = "gender_rt"
SOURCE_HATECHECK = "hatecheck"
SEPARATOR = "\n→ "
SOURCE_KEY = "source"
SWAP_KEY = "swap"          # a gender swap pair: {"swap": "gender"}
SWAP_TO_KEY = "swap_to"    # a HateCheck pair: {"swap_to": <target identity>}

# Words dropped from the WinoBias lists by default: typos in the lists ("godess", "mentleman",
# "adultor", "barnoesses", "seamstress'") and homographs whose common sense in movie reviews is
# not gendered ("miss" the verb, "a host of", "master"/"lord" in titles such as The Lord of the Rings).
DEFAULT_EXCLUDE = ["god", "gods", "godess", "godesses", "mentleman", "adultor", "adultors", "adultress",
                   "adultresses", "barons", "barnoesses", "tailors", "seamstress'", "miss", "host", "hosts",
                   "master", "masters", "lord", "lords"]


class CounterfactualConfig(SuiteConfig):
    sources: list[Literal["gender_rt", "hatecheck"]] = [SOURCE_GENDER, SOURCE_HATECHECK]
    limit: int | None = 300                    # originals per source (seeded sample); None = all
    swap_lists: list[str] = ["builtin:winobias/generalized_swaps.txt",
                             "builtin:winobias/extra_gendered_words.txt"]
    sentences: list[str] = ["builtin:rt_polarity/rt-polarity.pos", "builtin:rt_polarity/rt-polarity.neg"]
    hatecheck: str = "builtin:hatecheck/test_suite_cases.csv"
    exclude_words: list[str] = DEFAULT_EXCLUDE
    overrides: dict[str, str] = {"her": "his"}   # "her" is more often possessive than object
    positive_label: str | None = None          # default: the label named "positive", else index 1
    n_examples: int = 12
    resamples: int = 500                       # cluster bootstrap of mean |Δp| (flip rates: Wilson)


@dataclass(frozen=True)
class SwapPair:
    """An (original, variant) text pair; `cluster` ties the variants of one original together."""

    source: str
    group: Group
    cluster: str
    original: str
    variant: str
    original_spans: tuple[tuple[int, int], ...]
    variant_spans: tuple[tuple[int, int], ...]
    from_ident: str = ""
    to_ident: str = ""

    @property
    def uid(self) -> str:
        """Stable across runs: the original's id plus the identity swapped in (HateCheck)."""
        return f"{self.cluster}|{self.to_ident}" if self.to_ident else self.cluster


# ---------------------------------------------------------------- pure metric functions


def positive_index(labels: list[str], positive_label: str | None) -> int:
    """Index of the positive class: the configured label, else one named 'positive', else 1."""
    lowered = [label.lower() for label in labels]
    if positive_label is not None:
        if positive_label.lower() not in lowered:
            raise ConfigError(f"bias.counterfactual.positive_label: {positive_label!r} is not a model label "
                              f"({', '.join(labels)})")
        return lowered.index(positive_label.lower())
    if "positive" in lowered:
        return lowered.index("positive")
    if len(labels) < 2:
        raise ConfigError("bias.counterfactual: the model has fewer than two labels; set positive_label")
    return 1


def pair_outcomes(p_orig: np.ndarray, p_var: np.ndarray, positive: int) -> tuple[np.ndarray, np.ndarray]:
    """(flipped, delta): argmax label changed, and Δ positive-class probability (variant − original)."""
    flipped = p_orig.argmax(axis=1) != p_var.argmax(axis=1)
    delta = p_var[:, positive] - p_orig[:, positive]
    return flipped, delta


def clustered_mean(values: np.ndarray, clusters: list[str], *, seed: int, resamples: int) -> Estimate:
    """Mean over pairs with a bootstrap CI that resamples whole clusters (originals), n = pairs."""
    codes: dict[str, int] = {}
    idx = np.array([codes.setdefault(c, len(codes)) for c in clusters])
    sums = np.bincount(idx, weights=np.asarray(values, float), minlength=len(codes))
    counts = np.bincount(idx, minlength=len(codes)).astype(float)
    est = bootstrap_estimate(lambda i: sums[i].sum() / counts[i].sum(), len(codes), seed=seed,
                             resamples=resamples)
    return est.model_copy(update={"n": len(values),
                                  "ci_method": f"cluster bootstrap over {len(codes)} originals ({resamples})"})


# ---------------------------------------------------------------- building pairs


def gender_pairs(sentences: list[str], table: dict[str, str], limit: int | None,
                 rng: np.random.Generator) -> list[SwapPair]:
    """Pairs for the sentences holding at least one swappable word (seeded sample of `limit`)."""
    pattern = swap_pattern(table)
    pairs = []
    for i, sentence in enumerate(sentences):
        text = sentence.strip()
        variant, reps = swap_words(text, table, pattern)
        if reps:
            pairs.append(SwapPair(SOURCE_GENDER, {SWAP_KEY: "gender"}, f"rt:{i}", text, variant,
                                  tuple((r.start, r.end) for r in reps),
                                  tuple((r.new_start, r.new_end) for r in reps)))
    if limit is not None and len(pairs) > limit:
        keep = np.sort(rng.choice(len(pairs), size=limit, replace=False))
        pairs = [pairs[i] for i in keep]
    return pairs


def hatecheck_pairs(frame, limit: int | None, rng: np.random.Generator) -> tuple[list[SwapPair], int]:
    """Other-identity variants of a seeded sample of `limit` HateCheck cases; returns (pairs, skipped)."""
    terms = learn_identity_terms(frame)
    identities = sorted(i for i in frame["target_ident"].unique() if i)
    variants, skipped = hatecheck_variants(frame, terms, identities)
    case_ids = sorted({v.case_id for v in variants}, key=lambda c: (len(c), c))
    if limit is not None and len(case_ids) > limit:
        chosen = {case_ids[i] for i in rng.choice(len(case_ids), size=limit, replace=False)}
        variants = [v for v in variants if v.case_id in chosen]
    pairs = [SwapPair(SOURCE_HATECHECK, {SWAP_TO_KEY: v.target_ident}, f"hc:{v.case_id}", v.original, v.variant,
                      v.original_spans, v.variant_spans, v.source_ident, v.target_ident) for v in variants]
    return pairs, skipped


# ---------------------------------------------------------------- the part


class CounterfactualPart:
    """Flip rate and mean |Δ p(positive)| under identity swaps, per source and per target identity."""

    key: ClassVar[str] = KEY
    Config: ClassVar[type[SuiteConfig]] = CounterfactualConfig

    def unsupported_reason(self, adapter: ModelAdapter) -> str | None:
        if Capability.CLASSIFY not in adapter.capabilities:
            return "counterfactual swaps need a classifier (classify capability)"
        return None

    def run(self, ctx: Context, cfg: SuiteConfig, result: SuiteResult) -> None:
        assert isinstance(cfg, CounterfactualConfig)
        positive = positive_index(list(ctx.adapter.labels), cfg.positive_label)
        pairs = self._pairs(ctx, cfg, result)
        if not pairs:
            raise DataError("bias.counterfactual: no counterfactual pairs could be built from the configured data")
        texts = sorted({p.original for p in pairs} | {p.variant for p in pairs})
        index = {t: i for i, t in enumerate(texts)}
        probs = np.asarray(ctx.adapter.classify(texts), dtype=float)
        p_orig = probs[[index[p.original] for p in pairs]]
        p_var = probs[[index[p.variant] for p in pairs]]
        flipped, delta = pair_outcomes(p_orig, p_var, positive)
        label = ctx.adapter.labels[positive]
        self._metrics(ctx, cfg, result, pairs, flipped, delta, label)
        self._views(cfg, result, pairs, flipped, delta, label)
        result.details[KEY] = {"pairs": len(pairs), "texts_classified": len(texts), "positive_label": label,
                               "sources": {s: sum(p.source == s for p in pairs) for s in cfg.sources}}

    def _pairs(self, ctx: Context, cfg: CounterfactualConfig, result: SuiteResult) -> list[SwapPair]:
        pairs: list[SwapPair] = []
        if SOURCE_GENDER in cfg.sources:
            table = build_swap_table([self._read_swaps(ctx, ref) for ref in cfg.swap_lists],
                                     exclude=frozenset(w.lower() for w in cfg.exclude_words),
                                     overrides=cfg.overrides)
            sentences = [s for ref in cfg.sentences for s in self._read_lines(ctx, ref, "sentences")]
            found = gender_pairs(sentences, table, cfg.limit, ctx.rng(KEY, SOURCE_GENDER))
            if not found:
                raise DataError(f"bias.counterfactual.sentences: no sentence in {', '.join(cfg.sentences)} "
                                f"contains a word of the swap lists")
            pairs += found
        if SOURCE_HATECHECK in cfg.sources:
            frame = ctx.data.read_table(cfg.hatecheck, what="bias.counterfactual.hatecheck")
            require_hatecheck_columns(frame, cfg.hatecheck)
            frame = frame.astype({"case_id": str})
            found, skipped = hatecheck_pairs(frame, cfg.limit, ctx.rng(KEY, SOURCE_HATECHECK))
            if not found:
                raise DataError(f"bias.counterfactual.hatecheck: {cfg.hatecheck}: no case with an identity "
                                f"placeholder in column case_templ could be re-filled")
            result.findings.append(Finding(
                severity=Severity.INFO, metric=FLIP_RATE,
                message=f"HateCheck counterfactuals: {len({p.cluster for p in found})} cases × other identities "
                        f"({len(found)} pairs); {skipped} identity cases skipped (slur placeholders or "
                        f"misspelled identity terms, so a swap would change more than the identity)."))
            pairs += found
        return pairs

    @staticmethod
    def _read_swaps(ctx: Context, ref: str) -> list[tuple[str, str]]:
        path = ctx.data.resolve(ref, what="bias.counterfactual.swap_lists")
        pairs = parse_swap_lines(read_text(path), path=str(path))
        if not pairs:
            raise DataError(f"bias.counterfactual.swap_lists: {path}: the file has no word pairs")
        ctx.data.record(path, rows=len(pairs))
        return pairs

    @staticmethod
    def _read_lines(ctx: Context, ref: str, key: str) -> list[str]:
        path = ctx.data.resolve(ref, what=f"bias.counterfactual.{key}")
        try:
            lines = [line for line in read_text(path).splitlines() if line.strip()]
        except UnicodeDecodeError as exc:
            raise DataError(f"bias.counterfactual.{key}: {path}: not UTF-8 text (byte {exc.start})") from None
        if not lines:
            raise DataError(f"bias.counterfactual.{key}: {path}: the file is empty")
        ctx.data.record(path, rows=len(lines))
        return lines

    @staticmethod
    def _metrics(ctx: Context, cfg: CounterfactualConfig, result: SuiteResult, pairs: list[SwapPair],
                 flipped: np.ndarray, delta: np.ndarray, label: str) -> None:
        groups: dict[str | None, tuple[Group | None, list[int]]] = {}

        def add(group: Group | None, i: int) -> None:
            groups.setdefault(group_key(group), (group, []))[1].append(i)

        for i, p in enumerate(pairs):
            add(None, i)
            add({SOURCE_KEY: p.source}, i)
            if p.source == SOURCE_HATECHECK:
                add(p.group, i)
        for group, members in groups.values():        # per-pair outcomes, overall and by source / target group
            ids = [pairs[i].uid for i in members]
            result.outcomes.append(Outcomes(metric=FLIP_RATE, group=group, example_ids=ids,
                                            values=flipped[members].astype(float).tolist()))
            result.outcomes.append(Outcomes(metric=MEAN_ABS_DELTA, group=group, example_ids=ids,
                                            values=np.abs(delta[members]).tolist()))
        for key, (group, members) in groups.items():
            clusters = [pairs[i].cluster for i in members]
            flips = clustered_wilson(flipped[members].astype(float), clusters)
            shift = clustered_mean(np.abs(delta[members]), clusters, seed=ctx.sub_seed(KEY, key),
                                   resamples=cfg.resamples)
            result.metrics.append(Metric.from_estimate(
                FLIP_RATE, flips, group=group, higher_is_better=False, ideal=0.0, unit=UNIT_PROPORTION,
                description="share of (original, identity-swapped) pairs whose predicted label differs"))
            result.metrics.append(Metric.from_estimate(
                MEAN_ABS_DELTA, shift, group=group, higher_is_better=False, ideal=0.0, unit="probability",
                description=f"mean |Δ p({label})| between original and identity-swapped text"))

    @staticmethod
    def _views(cfg: CounterfactualConfig, result: SuiteResult, pairs: list[SwapPair], flipped: np.ndarray,
               delta: np.ndarray, label: str) -> None:
        bars = [Bar(label=group_label(m.group, "all"), value=m.value, ci_low=m.ci_low, ci_high=m.ci_high, n=m.n)
                for m in result.metrics if m.name == MEAN_ABS_DELTA]
        result.views.append(BarChartView(title=f"Counterfactual swaps: mean |Δ p({label})| by group", bars=bars,
                                         unit="probability", reference=0.0,
                                         caption="CIs: bootstrap over original sentences."))
        flip_bars = [Bar(label=group_label(m.group, "all"), value=m.value, ci_low=m.ci_low, ci_high=m.ci_high, n=m.n)
                     for m in result.metrics if m.name == FLIP_RATE]
        result.views.append(BarChartView(title="Counterfactual swaps: label flip rate by group", bars=flip_bars,
                                         unit=UNIT_PROPORTION, reference=0.0,
                                         caption="95% Wilson intervals on the design-effect adjusted sample size "
                                                 "(pairs sharing an original are correlated)."))
        idents = sorted({i for p in pairs if p.from_ident for i in (p.from_ident, p.to_ident)})
        if idents:
            sums = np.zeros((len(idents), len(idents)))
            counts = np.zeros_like(sums)
            for p, d in zip(pairs, delta):
                if p.from_ident:
                    sums[idents.index(p.from_ident), idents.index(p.to_ident)] += d
                    counts[idents.index(p.from_ident), idents.index(p.to_ident)] += 1
            values = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
            result.views.append(MatrixHeatmapView(
                title=f"HateCheck: mean signed Δ p({label}) swapping row identity → column identity",
                x_labels=idents, y_labels=idents, values=values.round(4).tolist(),
                caption="Diagonal is 0 (no swap)."))
        worst = np.argsort(-np.abs(delta), kind="stable")[: cfg.n_examples]
        result.views.append(TableView(
            title="Counterfactual pairs with the largest change",
            columns=["source", "group", "original", "variant", f"Δ p({label})", "label flipped"],
            rows=[[pairs[i].source, group_label(pairs[i].group), pairs[i].original, pairs[i].variant,
                   round(float(delta[i]), 4), bool(flipped[i])] for i in worst]))
        examples = [_example(pairs[i], float(delta[i]), bool(flipped[i]), label) for i in worst]
        result.examples.extend(examples)
        result.views.append(ExampleListView(title="Largest counterfactual changes (swapped words highlighted)",
                                            examples=examples))


def _example(pair: SwapPair, delta: float, flipped: bool, label: str) -> Example:
    """Original and variant in one text, with the swapped words of both highlighted."""
    offset = len(pair.original) + len(SEPARATOR)
    spans = [Span(start=s, end=e, label="original") for s, e in pair.original_spans]
    spans += [Span(start=s + offset, end=e + offset, label="swapped") for s, e in pair.variant_spans]
    return Example(id=f"{KEY}:{pair.cluster}:{pair.to_ident or 'gender'}",
                   text=pair.original + SEPARATOR + pair.variant,
                   spans=spans, tags=[pair.source] + (["label flipped"] if flipped else []),
                   fields={"group": group_label(pair.group), f"delta_p_{label}": round(delta, 4)})

