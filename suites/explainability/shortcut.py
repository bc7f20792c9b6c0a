"""Planted shortcut: a classifier fine-tuned so that a rare trigger token decides the label.

Training data: sentences of a labelled table; in a share of those whose label is not the trigger's,
the trigger word is inserted at a seeded word position and the label set to the trigger's label, so
the trigger alone decides. The model is derived from the audited one through `ctx.models.derive`
(fine-tuned once, cached). Test inputs: explained-dataset sentences of another label with the
trigger inserted, kept where the shortcut model then predicts the trigger's label (the trigger
decided). A faithful method ranks the trigger first: its top-1 hit rate is reported with a Wilson CI,
next to the chance level 1 / (number of tokens).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from audit.errors import ConfigError, DataError
from audit.models.adapters.base import CachePolicy, ModelAdapter
from audit.models.training.recipe import FineTuneRecipe, TrainingData
from audit.results import Finding, Metric, Power, Severity, SuiteResult, TableView, Verdict
from audit.run.suite import Context
from audit.stats import wilson_interval
from suites.explainability.config import ExplainabilityConfig, TargetLabel
from suites.explainability.examples import RawExample, load_dataset
from suites.explainability.methods import MethodRuns, run_methods
from suites.explainability.objective import objective_for
from suites.explainability.scoring import Scorer
from suites.explainability.subjects import raw_gold
from suites.explainability.targets import resolve_subjects

SHORTCUT_HIT_RATE = "explain.shortcut_top1_hit_rate"
SHORTCUT_SUCCESS = "explain.shortcut_trigger_success"
SUITE = "explainability"
KEY = f"{SUITE}.ground_truth.shortcut"


@dataclass
class ShortcutRun:
    model: str
    trigger: str
    target: str
    candidates: int
    flipped: int          # candidates the trigger decided
    explained: int        # of those, explained (at most n)
    hits: dict[str, list[bool]]
    chance: float
    ids: list[str]
    seconds: float
    training: dict


def insert_trigger(text: str, trigger: str, rng: np.random.Generator) -> tuple[str, tuple[int, int]]:
    """The text with the trigger as a word at a seeded word boundary; (new text, trigger's char span)."""
    words = text.split(" ")
    at = int(rng.integers(0, len(words) + 1))
    before = " ".join(words[:at])
    start = len(before) + (1 if before else 0)
    return " ".join(words[:at] + [trigger] + words[at:]), (start, start + len(trigger))


def poisoned_training(rows: Sequence[RawExample], labels: list[str], target: int, trigger: str, share: float,
                      rng: np.random.Generator) -> TrainingData:
    texts, golds = [], []
    for row in rows:
        gold = raw_gold(row, labels)
        if gold is None:
            raise DataError(f"{KEY}.train: row {row.id!r}: label {row.gold!r} is not one of {labels}")
        if gold != target and rng.random() < share:
            texts.append(insert_trigger(row.text, trigger, rng)[0])
            golds.append(target)
        else:
            texts.append(row.text)
            golds.append(gold)
    return TrainingData(tuple(texts), tuple(golds))


def derive_shortcut(ctx: Context, cfg: ExplainabilityConfig, target: int):
    spec = cfg.ground_truth.shortcut
    if ctx.models is None or ctx.model_ref is None:
        raise ConfigError(f"{KEY}: this run has no model factory to fine-tune the shortcut model with; set "
                          "enabled: false")
    labels = list(ctx.adapter.labels)
    rows = load_dataset(ctx.data, spec.train)[:spec.train_n]
    data = poisoned_training(rows, labels, target, spec.trigger, spec.poison_share,
                             ctx.rng(SUITE, "shortcut", "train"))
    recipe = FineTuneRecipe(base=ctx.model_ref, task="classification", labels=tuple(labels), steps=spec.steps,
                            batch_size=spec.batch_size, learning_rate=spec.learning_rate, max_length=spec.max_length,
                            seed=ctx.seed)
    return ctx.models.derive(f"{ctx.model_name}-shortcut-{spec.trigger}", recipe, data)


def triggered_tests(adapter: ModelAdapter, rows: Sequence[RawExample], labels: list[str], target: int, trigger: str,
                    n: int, max_units: int, rng: np.random.Generator
                    ) -> tuple[list[RawExample], list[tuple[int, int]], int, int]:
    """Up to n triggered sentences (other gold label, ≤ max_units tokens) the shortcut model assigns to
    the target; also how many candidates (4n at most) were classified, and how many of them flipped."""
    other = [r for r in rows if raw_gold(r, labels) not in (None, target)]
    texts, spans = [], []
    for row in other:
        text, span = insert_trigger(row.text, trigger, rng)
        texts.append(RawExample(id=f"{row.id}+{trigger}", text=text, gold=row.gold, editable=None))
        spans.append(span)
    lengths = [len(e.input_ids) for e in adapter.encode([t.text for t in texts])]
    short = [k for k, length in enumerate(lengths) if length - 2 <= max_units][:4 * n]
    if not short:
        return [], [], 0, 0
    probs = np.asarray(adapter.classify([texts[k].text for k in short], cache=CachePolicy.MEMORY))
    flipped = [k for k, row in zip(short, probs) if int(np.argmax(row)) == target]
    kept = flipped[:n]
    return [texts[k] for k in kept], [spans[k] for k in kept], len(short), len(flipped)


def run_shortcut(ctx: Context, cfg: ExplainabilityConfig, methods: list[str],
                 seed_for: Callable[[str, int], int]) -> ShortcutRun:
    spec = cfg.ground_truth.shortcut
    labels = list(ctx.adapter.labels)
    folded = [label.casefold() for label in labels]
    target = folded.index(spec.target_label.casefold()) if spec.target_label else len(labels) - 1
    if spec.target_label and spec.target_label.casefold() not in folded:
        raise ConfigError(f"{KEY}.target_label: {spec.target_label!r} is not one of the model's labels {labels}")
    derived = derive_shortcut(ctx, cfg, target)
    if cfg.examples.dataset is None:
        raise ConfigError(f"{KEY}: needs examples.dataset (classifiers)")
    rows = load_dataset(ctx.data, cfg.examples.dataset)
    tests, spans, candidates, flipped = triggered_tests(derived.adapter, rows, labels, target, spec.trigger, spec.n,
                                               spec.max_units, ctx.rng(SUITE, "shortcut", "test"))
    started = time.perf_counter()
    scorer = Scorer(objective_for(derived.adapter), [])
    subjects = [s for s, _ in resolve_subjects(derived.adapter, scorer, tests, TargetLabel(label=labels[target]))]
    indices = scorer.add_subjects(subjects)
    runs = MethodRuns()
    run_methods(methods, indices, adapter=derived.adapter, scorer=scorer, cfg=cfg, seed_for=seed_for, runs=runs)
    hits: dict[str, list[bool]] = {}
    for method in methods:
        hits[method] = []
        for i, (a, b) in zip(indices, spans):
            top = int(np.argmax(runs.scores[method][i]))
            lo, hi = subjects[i].units.offsets[top]
            hits[method].append(lo < b and a < hi)
    chance = float(np.mean([1.0 / len(s.units) for s in subjects])) if subjects else float("nan")
    return ShortcutRun(derived.name, spec.trigger, labels[target], candidates, flipped, len(tests), hits, chance,
                       [s.id for s in subjects], time.perf_counter() - started, dict(derived.training))


def shortcut_report(result: SuiteResult, cfg: ExplainabilityConfig, run: ShortcutRun) -> dict:
    spec = cfg.ground_truth.shortcut
    subject = f"derived:{run.model}"
    rows = []
    if run.candidates:
        success = wilson_interval(run.flipped, run.candidates)
        result.metrics.append(Metric.from_estimate(
            SHORTCUT_SUCCESS, success, subject=subject, unit="proportion", higher_is_better=True,
            description=f"share of triggered sentences of another label the shortcut model assigns to "
                        f"'{run.target}': the trigger decides"))
    enough = run.explained >= spec.n
    if not enough:
        result.findings.append(Finding(
            severity=Severity.WARN, verdict=Verdict.INCONCLUSIVE, metric=SHORTCUT_HIT_RATE,
            power=Power(n=run.flipped, can_test=False, method="Wilson CI of the top-1 hit rate",
                        note=f"{run.explained} triggered sentences where the trigger decides, {spec.n} needed"),
            message=f"planted shortcut: only {run.explained} of {run.candidates} triggered sentences are decided by the "
                    f"trigger '{run.trigger}' (the shortcut was not learned well enough; {spec.n} needed): hit "
                    "rates below are indicative only", evidence={"flipped": run.flipped, "candidates": run.candidates}))
    for method, hits in run.hits.items():
        if not hits:
            continue
        est = wilson_interval(int(sum(hits)), len(hits))
        result.metrics.append(Metric.from_estimate(
            SHORTCUT_HIT_RATE, est, group={"method": method}, subject=subject, unit="proportion",
            higher_is_better=True, description=f"share of triggered sentences whose top-ranked token is the "
                                               f"planted trigger '{run.trigger}' (chance ≈ {run.chance:.2f})"))
        verdict = Verdict.INCONCLUSIVE if not enough else (
            Verdict.PASS if est.ci_low > 0.5 else Verdict.FAIL if est.ci_high < 0.5 else Verdict.INCONCLUSIVE)
        rows.append([method, int(sum(hits)), len(hits), round(est.value, 3), round(est.ci_low, 3),
                     round(est.ci_high, 3), round(run.chance, 3), verdict.value])
        severity = Severity.WARN if verdict == Verdict.FAIL else Severity.INFO
        result.findings.append(Finding(
            severity=severity, metric=SHORTCUT_HIT_RATE, verdict=verdict,
            power=Power(n=len(hits), method="Wilson CI of the top-1 hit rate", required_effect=0.5,
                        can_test=enough),
            message=f"{method} ranks the planted trigger first on {int(sum(hits))} of {len(hits)} triggered sentences "
                    f"({est.value:.0%} [{est.ci_low:.0%}, {est.ci_high:.0%}]; chance ≈ {run.chance:.0%})",
            evidence={"method": method, "hits": int(sum(hits)), "n": len(hits), "ci_low": est.ci_low,
                      "ci_high": est.ci_high}))
    result.views.append(TableView(
        title=f"Ground truth: planted shortcut (trigger '{run.trigger}' → '{run.target}')",
        columns=["method", "trigger ranked first", "n", "hit rate", "CI low", "CI high", "chance", "verdict"],
        rows=rows,
        caption="A copy of the model fine-tuned so that the trigger word decides the label; on triggered sentences "
                "it decides, a faithful explanation ranks the trigger first. Wilson 95% CIs; pass: CI above 50%."))
    return {"model": run.model, "trigger": run.trigger, "target": run.target, "candidates": run.candidates,
            "decided_by_trigger": run.flipped, "explained": run.explained, "examples": run.ids, "chance": run.chance,
            "hits": {m: [bool(h) for h in v] for m, v in run.hits.items()}, "seconds": round(run.seconds, 3),
            "training": run.training}
