"""Computes the per-example trust scores of every method: faithfulness (one batched scoring pass for every
ranking and example), leave-one-out correlation, pairwise agreement and stability."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Sequence

import numpy as np

from suites.explainability import faithfulness as F
from suites.explainability.chance import NULL_SUFFIX
from suites.explainability.agreement import agreement_spearman, top_k_overlap
from suites.explainability.occlusion import occlusion_scores
from suites.explainability.scoring import Scorer
from suites.explainability.stability import stability
from suites.explainability.tokens import Masking

EVALUATION = "faithfulness"   # cost bucket of the evaluation's own masked inputs


@dataclass
class Evaluation:
    """Arrays aligned with `example_ids` (NaN where a score is undefined for an example)."""

    example_ids: list[str]
    comprehensiveness: dict[str, np.ndarray] = field(default_factory=dict)
    sufficiency: dict[str, np.ndarray] = field(default_factory=dict)
    loo_correlation: dict[str, np.ndarray] = field(default_factory=dict)
    agreement: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    top_k: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    stability: dict[str, np.ndarray] = field(default_factory=dict)
    loo_drops: list[np.ndarray] = field(default_factory=list)
    full: np.ndarray = field(default_factory=lambda: np.zeros(0))   # f(x) of each example
    null_comprehensiveness: dict[str, np.ndarray] = field(default_factory=dict)   # own-permutation null
    null_sufficiency: dict[str, np.ndarray] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)   # method -> why it is left out of the verdicts


def faithfulness_scores(scorer: Scorer, indices: Sequence[int], rankings: dict[str, dict[int, np.ndarray]],
                        only_positive: bool, out: Evaluation, grid: str = F.GRID_FERRET,
                        nulls: dict[str, dict[int, np.ndarray]] | None = None) -> None:
    """Comprehensiveness / sufficiency AOPC of every ranking (and of each one's permutation null,
    `nulls` keyed by chance.null_name) on every subject, in one scorer call."""
    nulls = nulls or {}
    rankings = {**rankings, **nulls}
    full = scorer.full(EVALUATION, indices)
    out.full = full
    items: list[tuple[int, np.ndarray]] = []
    spans: dict[tuple[str, int], tuple[int, int, int]] = {}
    for method, by_subject in rankings.items():
        for i in indices:
            plan = F.plan(by_subject[i], only_positive, grid)
            start = len(items)
            items += [(i, keep) for keep in plan.comprehensiveness]
            middle = len(items)
            items += [(i, keep) for keep in plan.sufficiency]
            spans[(method, i)] = (start, middle, len(items))
    values = scorer.values(EVALUATION, items, Masking.REMOVE)
    for method in rankings:
        comp, suff = [], []
        for f_x, i in zip(full, indices):
            start, middle, end = spans[(method, i)]
            comp.append(F.aopc(f_x, values[start:middle]))
            suff.append(F.aopc(f_x, values[middle:end]))
        out.comprehensiveness[method] = np.array(comp)
        out.sufficiency[method] = np.array(suff)
    for name in nulls:
        method = name[:-len(NULL_SUFFIX)]
        out.null_comprehensiveness[method] = out.comprehensiveness.pop(name)
        out.null_sufficiency[method] = out.sufficiency.pop(name)


def loo_correlations(scorer: Scorer, indices: Sequence[int], rankings: dict[str, dict[int, np.ndarray]],
                     out: Evaluation) -> None:
    """Spearman correlation of each ranking with leave-one-out removal drops (ferret's reference)."""
    out.loo_drops = occlusion_scores(scorer, indices, EVALUATION, Masking.REMOVE)
    for method, by_subject in rankings.items():
        out.loo_correlation[method] = np.array([F.loo_rank_correlation(by_subject[i], drops)
                                                for i, drops in zip(indices, out.loo_drops)])


def agreements(indices: Sequence[int], rankings: dict[str, dict[int, np.ndarray]], k: int, out: Evaluation) -> None:
    for a, b in combinations(rankings, 2):
        out.agreement[(a, b)] = np.array([agreement_spearman(rankings[a][i], rankings[b][i]) for i in indices])
        out.top_k[(a, b)] = np.array([top_k_overlap(rankings[a][i], rankings[b][i], k) for i in indices])


def stabilities(scorer: Scorer, indices: Sequence[int], variants: dict[int, int],
                rankings: dict[str, dict[int, np.ndarray]], out: Evaluation) -> None:
    """Per method: word-level Spearman between the text and its typo variant (NaN: no variant)."""
    for method, by_subject in rankings.items():
        values = []
        for i in indices:
            v = variants.get(i)
            if v is None or v not in by_subject:
                values.append(float("nan"))
                continue
            values.append(stability(scorer.subjects[i].units, by_subject[i], scorer.subjects[v].units,
                                    by_subject[v]))
        out.stability[method] = np.array(values)
