"""Pick the examples to explain (first n, seeded random n, or misclassified first) and build their subjects."""

from __future__ import annotations

import numpy as np

from audit.models.adapters.base import ModelAdapter
from audit.errors import DataError
from suites.explainability.config import SELECT_MISCLASSIFIED, ExplainabilityConfig
from suites.explainability.examples import RawExample, candidate_order, misclassified_first
from suites.explainability.scoring import Scorer
from suites.explainability.subjects import Subject
from suites.explainability.targets import resolve_subjects


def select_subjects(adapter: ModelAdapter, scorer: Scorer, raws: list[RawExample], cfg: ExplainabilityConfig,
                    seed: int) -> tuple[list[Subject], list[int]]:
    """(subjects, predicted index of each) for the selected examples, in selection order."""
    spec = cfg.examples
    field_only = spec.features == "field"
    order = candidate_order(len(raws), spec.select, seed)
    if spec.select != SELECT_MISCLASSIFIED:
        chosen = resolve_subjects(adapter, scorer, [raws[i] for i in order[:spec.n]], cfg.target, field_only)
        return [s for s, _ in chosen], [p for _, p in chosen]
    pool = order[:max(spec.pool, spec.n)]
    resolved = resolve_subjects(adapter, scorer, [raws[i] for i in pool], cfg.target, field_only)
    if any(s.gold is None for s, _ in resolved):
        raise DataError("explainability.examples.select: 'misclassified_first' needs gold labels "
                        "(examples.dataset.label_column)")
    wrong = np.array([s.gold != p for s, p in resolved])
    picked = misclassified_first(np.arange(len(resolved)), wrong, spec.n)
    return [resolved[i][0] for i in picked], [resolved[i][1] for i in picked]
