"""Assembles the explainability results: metrics, per-example outcomes and verdict findings, from an Evaluation.

Every number is a mean over the explained examples with a seeded bootstrap CI; a seeded random
ranking is reported as method "random" for reference. Whether a method beats chance is decided
against its own permutation null (suites.explainability.chance_verdicts).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from audit.results import Finding, Metric, Outcomes, Severity, SuiteResult, UNIT_PROPORTION
from audit.stats import bootstrap_mean
from suites.explainability.trust_scores import Evaluation

COMPREHENSIVENESS = "explain.comprehensiveness_aopc"
SUFFICIENCY = "explain.sufficiency_aopc"
COMPREHENSIVENESS_GAIN = "explain.comprehensiveness_over_random"
SUFFICIENCY_GAIN = "explain.sufficiency_over_random"
LOO_CORRELATION = "explain.loo_rank_correlation"
AGREEMENT = "explain.agreement_spearman"
TOP_K = "explain.agreement_top_k"
STABILITY = "explain.stability"
IG_GAP = "explain.ig_completeness_gap"
IG_RELATIVE_GAP = "explain.ig_relative_completeness_gap"
SECONDS = "explain.seconds_per_explanation"
MODEL_CALLS = "explain.model_calls_per_explanation"
NULL_COMPREHENSIVENESS = "explain.comprehensiveness_null"
IG_GROUP = {"method": "integrated_gradients"}


Seed = Callable[..., int]


def _mean_metric(name: str, values: np.ndarray, seed: int, **fields) -> Metric | None:
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    return Metric.from_estimate(name, bootstrap_mean(finite, seed=seed), **fields)


def _outcomes(name: str, group: dict[str, str], ids: list[str], values: np.ndarray) -> Outcomes | None:
    keep = [(i, float(v)) for i, v in zip(ids, values) if np.isfinite(v)]
    if not keep:
        return None
    return Outcomes(metric=name, group=group, example_ids=[i for i, _ in keep], values=[v for _, v in keep])


def add_faithfulness(result: SuiteResult, ev: Evaluation, unit: str, seed: Seed) -> None:
    """Comprehensiveness, sufficiency and LOO correlation per method (random included), and each
    method's own chance level (the permutation null; the comparison is in chance_verdicts)."""
    for method in ev.comprehensiveness:
        group = {"method": method}
        rows = (
            (COMPREHENSIVENESS, ev.comprehensiveness[method], dict(higher_is_better=True, unit=unit,
             description="AOPC of f(x) − f(x without the top k% tokens), k = 10..100% (ferret)")),
            (SUFFICIENCY, ev.sufficiency[method], dict(higher_is_better=False, unit=unit,
             description="AOPC of f(x) − f(top k% tokens alone), k = 10..100% (ferret)")),
            (LOO_CORRELATION, ev.loo_correlation.get(method), dict(higher_is_better=True,
             description="Spearman correlation of the scores with leave-one-out removal drops")),
        )
        for name, values, fields in rows:
            if values is None:
                continue
            metric = _mean_metric(name, values, seed(name, method), group=group, **fields)
            if metric is not None:
                result.metrics.append(metric)
            outcome = _outcomes(name, group, ev.example_ids, values)
            if outcome is not None:
                result.outcomes.append(outcome)
    for method, values in ev.null_comprehensiveness.items():
        metric = _mean_metric(NULL_COMPREHENSIVENESS, values, seed(NULL_COMPREHENSIVENESS, method),
                              group={"method": method}, higher_is_better=None, unit=unit,
                              description="comprehensiveness AOPC of a seeded permutation of the method's own "
                                          "scores (its chance level: same positives, same k grid)")
        if metric is not None:
            result.metrics.append(metric)


def add_agreement(result: SuiteResult, ev: Evaluation, k: int, seed: Seed) -> None:
    for (a, b), values in ev.agreement.items():
        group = {"method_a": a, "method_b": b}
        for name, arr, fields in ((AGREEMENT, values, dict(higher_is_better=True,
                                   description="Spearman rank correlation of two methods' token scores")),
                                  (TOP_K, ev.top_k[(a, b)], dict(higher_is_better=True, unit=UNIT_PROPORTION,
                                   description=f"share of the top-{k} tokens the two methods have in common"))):
            metric = _mean_metric(name, arr, seed(name, a, b), group=group, **fields)
            if metric is not None:
                result.metrics.append(metric)


def add_stability(result: SuiteResult, ev: Evaluation, seed: Seed) -> None:
    for method, values in ev.stability.items():
        group = {"method": method}
        metric = _mean_metric(STABILITY, values, seed(STABILITY, method), group=group, higher_is_better=True,
                              description="Spearman correlation of word attributions on a text and "
                                                     "on the same text with a typo in its least important word")
        if metric is not None:
            result.metrics.append(metric)
        outcome = _outcomes(STABILITY, group, ev.example_ids, values)
        if outcome is not None:
            result.outcomes.append(outcome)


def add_ig(result: SuiteResult, ids: list[str], gaps: np.ndarray, relative: np.ndarray, unit: str,
           seed: Seed, excluded: str | None = None) -> list[Finding]:
    """IG's completeness gaps (per example in the outcomes) and, if it did not converge, the WARN that
    says it was left out."""
    for name, values, fields in ((IG_GAP, gaps, dict(unit=unit, description="|Σ attributions − (f(x) − "
                                                      "f(baseline))| per explanation")),
                                 (IG_RELATIVE_GAP, relative, dict(description="completeness gap / |f(x) − "
                                                                  "f(baseline)|"))):
        metric = _mean_metric(name, values, seed(name), group=IG_GROUP, higher_is_better=False, **fields)
        if metric is not None:
            result.metrics.append(metric)
        outcome = _outcomes(name, IG_GROUP, ids, values)
        if outcome is not None:
            result.outcomes.append(outcome)
    if excluded is not None:
        return [Finding(severity=Severity.WARN, metric=IG_RELATIVE_GAP,
                        message=f"integrated gradients excluded from the faithfulness verdicts and the agreement "
                                f"table: {excluded} (raise integrated_gradients.max_steps or change the baseline)",
                        evidence={"method": "integrated_gradients", "excluded": True, "reason": excluded,
                                  "relative_gaps": [float(v) for v in relative]})]
    return []


def add_costs(result: SuiteResult, costs: dict[str, dict[str, object]], per_subject: dict[str, np.ndarray],
              seed: Seed) -> None:
    """Seconds per explanation (a measured cost, no CI) and model evaluations per explanation (with a CI)."""
    for method, cost in costs.items():
        n = int(cost["explanations"])  # type: ignore[arg-type]
        if n == 0:
            continue
        result.metrics.append(Metric(name=SECONDS, value=float(cost["seconds"]) / n, n=n,  # type: ignore[arg-type]
                                     group={"method": method}, higher_is_better=False, unit="s",
                                     description="wall time of the method / explanations made (a cost, not an "
                                                 "estimate: no CI); the machine's load shows in it"))
        metric = _mean_metric(MODEL_CALLS, per_subject[method], seed(MODEL_CALLS, method), group={"method": method},
                              higher_is_better=False, description="inputs the model computed per explanation "
                              "(distinct masked inputs; integrated gradients: steps + 2 rows with a backward pass)")
        if metric is not None:
            result.metrics.append(metric)
