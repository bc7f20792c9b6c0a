"""Leave-one-out occlusion: the drop in f when one token is hidden (the cheap reference method)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from suites.explainability.scoring import Scorer
from suites.explainability.tokens import Masking


def leave_one_out_keeps(n: int) -> list[np.ndarray]:
    """n keep-vectors, the i-th hiding only feature i."""
    return [~np.eye(n, dtype=bool)[i] for i in range(n)]


def occlusion_scores(scorer: Scorer, indices: Sequence[int], method: str,
                     masking: Masking = Masking.REMOVE) -> list[np.ndarray]:
    """f(x) − f(x without token i) for every token of every subject, in one scorer call."""
    items, spans = [], []
    for i in indices:
        n = len(scorer.subjects[i].units)
        start = len(items)
        items.append((i, np.ones(n, dtype=bool)))
        items += [(i, keep) for keep in leave_one_out_keeps(n)]
        spans.append((start, len(items)))
    values = scorer.values(method, items, masking)
    return [values[a] - values[a + 1:b] for a, b in spans]
