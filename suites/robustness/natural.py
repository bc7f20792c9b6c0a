"""Natural perturbations, scored: every example under every perturbation, paired with its clean text.

The same code serves classifiers and causal LMs: a `Predict` function turns a list of texts into
predicted label indices with one batched model call per condition (classifier: `classify`; causal
LM: `loglikelihood` of each choice, see mc.py). Each text's RNG comes from
`ctx.rng("robustness", perturbation, example_id)`, independent of the severity, so a severity sweep
perturbs the same words in the same way, more of them as the severity grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from audit.models.adapters.base import CachePolicy, ModelAdapter
from audit.run.suite import Context
from suites.robustness.config import SweepConfig
from suites.robustness.perturbations import Perturbation

Predict = Callable[[list[str]], np.ndarray]
SUITE_KEY = "robustness"


@dataclass(frozen=True)
class ConditionRun:
    """One condition: the texts the model saw, what it predicted, and which it got right."""

    perturbation: str | None          # None: the clean texts
    severity: float
    texts: list[str]
    predictions: np.ndarray
    correct: np.ndarray
    changed: np.ndarray               # the perturbation changed this example's text


@dataclass
class NaturalRun:
    ids: list[str]
    texts: list[str]
    labels: np.ndarray
    clean: ConditionRun
    perturbed: list[ConditionRun] = field(default_factory=list)
    sweep: list[ConditionRun] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.ids)


def perturb_texts(ctx: Context, perturbation: Perturbation, severity: float, ids: Sequence[str],
                  texts: Sequence[str]) -> list[str]:
    return [perturbation(text, ctx.rng(SUITE_KEY, perturbation.name, example_id), severity)
            for example_id, text in zip(ids, texts)]


def _condition(ctx: Context, perturbation: Perturbation | None, severity: float, ids: Sequence[str],
               texts: list[str], labels: np.ndarray, predict: Predict) -> ConditionRun:
    seen = texts if perturbation is None else perturb_texts(ctx, perturbation, severity, ids, texts)
    predictions = np.asarray(predict(seen), dtype=np.int64)
    changed = np.array([a != b for a, b in zip(seen, texts)], dtype=bool)
    return ConditionRun(None if perturbation is None else perturbation.name, severity, seen, predictions,
                        predictions == labels, changed)


def evaluate(ctx: Context, ids: list[str], texts: list[str], labels: np.ndarray,
             perturbations: list[tuple[Perturbation, float]], sweep: list[tuple[Perturbation, float]],
             predict: Predict, desc: str) -> NaturalRun:
    """Clean, each (perturbation, severity), and the sweep's: one `predict` call per condition."""
    plan = [(p, s, False) for p, s in perturbations] + [(p, s, True) for p, s in sweep]
    run = NaturalRun(ids, texts, labels, _condition(ctx, None, 0.0, ids, texts, labels, predict))
    for perturbation, severity, in_sweep in ctx.progress(plan, total=len(plan), desc=desc) or plan:
        condition = _condition(ctx, perturbation, severity, ids, texts, labels, predict)
        (run.sweep if in_sweep else run.perturbed).append(condition)
    return run


def sweep_plan(sweep: SweepConfig | None, build: Callable[[str], Perturbation]) -> list[tuple[Perturbation, float]]:
    if sweep is None:
        return []
    return [(build(name), severity) for name in sweep.perturbations for severity in sweep.severities]


def classifier_predictor(adapter: ModelAdapter) -> Predict:
    """texts -> argmax of the classifier's probabilities, one batch per call."""

    def predict(texts: list[str]) -> np.ndarray:
        return np.asarray(adapter.classify(texts, cache=CachePolicy.PERSIST)).argmax(axis=1)

    return predict
