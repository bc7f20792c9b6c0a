"""Integrated gradients: a thin call to the adapter's `gradients` (IG on the input embeddings).

The adapter batches every (example, step) row and reports f(input) and f(baseline), so the
completeness gap |Σ attributions − (f(x) − f(baseline))| comes with each explanation. Scores
are moved onto the subject's token units (the same tokenization, so one to one in practice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from audit.models.adapters.base import Attribution, GradientRequest, ModelAdapter, ModelKind
from suites.explainability.subjects import Subject
from suites.explainability.tokens import align_by_offsets


@dataclass(frozen=True)
class IgResult:
    scores: list[np.ndarray]
    completeness_gaps: list[float]
    relative_gaps: list[float]       # gap / |f(x) − f(baseline)|
    attributions: list[Attribution]


def gradient_request(adapter: ModelAdapter, subject: Subject, steps: int, baseline: str,
                     contrast: tuple[str, ...] = ()) -> GradientRequest:
    if adapter.kind == ModelKind.CAUSAL_LM:
        assert subject.continuation is not None
        return GradientRequest(text=subject.text, target=subject.continuation, steps=steps, baseline=baseline,
                               contrast=contrast)
    return GradientRequest(text=subject.units.text, target=subject.target, steps=steps, baseline=baseline)


def integrated_gradients(adapter: ModelAdapter, subjects: Sequence[Subject], *, steps: int,
                         baseline: str, contrast: Sequence[tuple[str, ...]] | None = None) -> IgResult:
    """One batched gradients call for every subject (`contrast`: per subject, the choices a causal LM's
    output is normalised over)."""
    contrast = contrast if contrast is not None else [()] * len(subjects)
    attributions = adapter.gradients([gradient_request(adapter, s, steps, baseline, c)
                                      for s, c in zip(subjects, contrast)])
    scores, gaps, relative = [], [], []
    for subject, attribution in zip(subjects, attributions):
        live = [not s for s in attribution.special]
        scores.append(align_by_offsets(subject.units, [o for o, k in zip(attribution.offsets, live) if k],
                                       attribution.scores[np.array(live, dtype=bool)],
                                       [t for t, k in zip(attribution.token_ids, live) if k]))
        gap = attribution.completeness_gap
        gaps.append(gap)
        delta = abs(attribution.output - attribution.baseline_output)
        relative.append(gap / delta if delta > 0 else float("nan"))
    return IgResult(scores, gaps, relative, list(attributions))
