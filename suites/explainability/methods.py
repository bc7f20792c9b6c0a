"""Run the configured attribution methods over a set of subjects, timing each method; explanations made
before (same model, settings, subject and code) come from the attribution cache."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from audit.models.adapters.base import AttentionResult, ModelAdapter
from suites.explainability.attention import attention_scores
from suites.explainability.attribution_cache import run_cached
from suites.explainability.config import (ATTENTION, INTEGRATED_GRADIENTS, LIME, OCCLUSION, SHAP,
                                          ExplainabilityConfig)
from suites.explainability.integrated_gradients import integrated_gradients
from suites.explainability.lime_method import lime_scores
from suites.explainability.occlusion import occlusion_scores
from suites.explainability.result_store import AttributionStore
from suites.explainability.scoring import Scorer
from suites.explainability.shap_method import shap_scores

# Cheap methods first: their masked inputs are then free for the ones that ask again.
RUN_ORDER = (OCCLUSION, SHAP, LIME, INTEGRATED_GRADIENTS, ATTENTION)
SeedFor = Callable[[str, int], int]   # (method, subject index) -> seed
SEEDED = (SHAP, LIME)                  # methods whose numbers depend on their seed (recorded per example)


@dataclass
class IgDetail:
    gap: float
    relative_gap: float
    output: float
    baseline_output: float
    steps: int = 0
    converged: bool = True


@dataclass
class MethodRuns:
    """Scores per method and subject index, plus what the report shows besides scores."""

    scores: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    explained: dict[str, int] = field(default_factory=dict)
    ig: dict[int, IgDetail] = field(default_factory=dict)
    attention_maps: dict[int, AttentionResult] = field(default_factory=dict)
    rollouts: dict[int, np.ndarray] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)   # method -> why it is left out of the verdicts
    shap_info: dict[int, dict] = field(default_factory=dict)   # SHAP: estimator, budget, needed, truncated
    seeds: dict[str, dict[int, int]] = field(default_factory=dict)   # sampled methods: the seed per subject

    def add(self, method: str, indices: Sequence[int], scores: Sequence[np.ndarray], seconds: float) -> None:
        self.scores.setdefault(method, {}).update(zip(indices, (np.asarray(s, dtype=np.float64) for s in scores)))
        self.seconds[method] = self.seconds.get(method, 0.0) + seconds
        self.explained[method] = self.explained.get(method, 0) + len(indices)


def run_methods(methods: Sequence[str], indices: Sequence[int], *, adapter: ModelAdapter, scorer: Scorer,
                cfg: ExplainabilityConfig, seed_for: SeedFor, runs: MethodRuns) -> None:
    """Explain every subject in `indices` with every method in `methods` (in RUN_ORDER)."""
    if not indices:
        return
    store = AttributionStore.for_adapter(adapter)
    for method in [m for m in RUN_ORDER if m in methods]:
        if method in SEEDED:
            runs.seeds.setdefault(method, {}).update({i: seed_for(method, i) for i in indices})
        started = time.perf_counter()
        cached = dict(store=store, scorer=scorer, cfg=cfg, seed_for=lambda i, m=method: seed_for(m, i))
        replayed = 0.0
        if method == OCCLUSION:
            scores, replayed = run_cached(method=OCCLUSION, indices=indices, **cached,
                                compute=lambda idx: occlusion_scores(scorer, idx, OCCLUSION, cfg.masking))
        elif method == SHAP:
            scores, replayed = run_cached(method=SHAP, indices=indices, **cached, compute=lambda idx: shap_scores(
                scorer, idx, SHAP, max_evals=cfg.shap.max_evals, batch_size=cfg.shap.batch_size, masking=cfg.masking,
                seed_for=lambda i: seed_for(SHAP, i), max_evals_cap=cfg.shap.max_evals_cap,
                exact_max_units=cfg.shap.exact_max_units, info=runs.shap_info),
                save=runs.shap_info.get, restore=runs.shap_info.__setitem__)
        elif method == LIME:
            scores, replayed = run_cached(method=LIME, indices=indices, **cached, compute=lambda idx: lime_scores(
                scorer, idx, LIME, num_samples=cfg.lime.num_samples, kernel_width=cfg.lime.kernel_width,
                masking=cfg.masking, seed_for=lambda i: seed_for(LIME, i)))
        elif method == INTEGRATED_GRADIENTS:
            scores, replayed = run_cached(method=INTEGRATED_GRADIENTS, indices=indices, **cached,
                                compute=lambda idx: _integrated_gradients(adapter, scorer, idx, cfg, runs),
                                save=lambda i: vars(runs.ig[i]),
                                restore=lambda i, d: runs.ig.__setitem__(i, IgDetail(**d)))
            _ig_exclusion(runs, indices, cfg)
        else:
            scores = _attention(adapter, scorer, indices, runs)
        runs.add(method, indices, scores, time.perf_counter() - started + replayed)


def converged(detail: IgDetail, target_gap: float, floor: float = 1e-4) -> bool:
    """Completeness within `target_gap` of |f(x) − f(baseline)| (or below `floor` in absolute terms)."""
    return detail.gap <= max(target_gap * abs(detail.output - detail.baseline_output), floor)


def _integrated_gradients(adapter: ModelAdapter, scorer: Scorer, indices: Sequence[int],
                          cfg: ExplainabilityConfig, runs: MethodRuns) -> list[np.ndarray]:
    """IG with adaptive steps: subjects whose completeness gap is above the target are redone with twice
    the steps, up to `max_steps` (a subject still above it then marks IG excluded: `_ig_exclusion`)."""
    ig = cfg.integrated_gradients
    scores: dict[int, np.ndarray] = {}
    pending, steps = list(indices), ig.steps
    while pending:
        result = integrated_gradients(adapter, [scorer.subjects[i] for i in pending], steps=steps,
                                      baseline=ig.baseline, contrast=ig_contrast(scorer, pending))
        still = []
        for i, gap, relative, attribution, score in zip(pending, result.completeness_gaps, result.relative_gaps,
                                                         result.attributions, result.scores):
            detail = IgDetail(gap, relative, attribution.output, attribution.baseline_output, steps)
            detail.converged = converged(detail, ig.target_gap)
            runs.ig[i], scores[i] = detail, score
            scorer.charge(INTEGRATED_GRADIENTS, scorer.subjects[i].id, 1, steps + 2)  # rows, each with a backward
            if not detail.converged:
                still.append(i)
        if not still or steps * 2 > ig.max_steps:
            break
        pending, steps = still, steps * 2
    return [scores[i] for i in indices]


def _ig_exclusion(runs: MethodRuns, indices: Sequence[int], cfg: ExplainabilityConfig) -> None:
    """Mark IG excluded when a subject's completeness gap stayed above the target (after the most steps
    the adaptive passes reached: the last pass's steps, computed or replayed)."""
    ig = cfg.integrated_gradients
    failed = [i for i in indices if not runs.ig[i].converged]
    if failed:
        steps = max(runs.ig[i].steps for i in indices)
        worst = max(runs.ig[i].relative_gap for i in failed)
        runs.excluded[INTEGRATED_GRADIENTS] = (
            f"completeness gap above {ig.target_gap:.0%} of f(x) − f(baseline) on {len(failed)} of {len(indices)} "
            f"inputs after {steps} steps (worst {worst:.0%}): the path integral is not converged")


def ig_contrast(scorer: Scorer, indices: Sequence[int]) -> list[tuple[str, ...]]:
    """Causal LMs: the task's choices (IG explains log p(chosen) − logsumexp over them); else none."""
    return [tuple(scorer.subjects[i].choices) for i in indices]


def _attention(adapter: ModelAdapter, scorer: Scorer, indices: Sequence[int], runs: MethodRuns) -> list[np.ndarray]:
    result = attention_scores(adapter, [scorer.subjects[i] for i in indices])
    for i, attention_map, rolled in zip(indices, result.maps, result.rollouts):
        runs.attention_maps[i] = attention_map
        runs.rollouts[i] = rolled
        scorer.charge(ATTENTION, scorer.subjects[i].id, 1, 1)
    return result.scores
