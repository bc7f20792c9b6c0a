"""Faithfulness of a token ranking: comprehensiveness and sufficiency (DeYoung et al. 2020, ERASER)
as AOPC over k = 10%, 20%, …, 100% of the tokens, with ferret's definitions, and the rank
correlation with leave-one-out drops. Pure functions: keep-vectors out, numbers in.

For each k: the rationale is the top int(k·n) tokens by score (only positively scored ones when
`only_positive`, ferret's default); empty rationales and ones equal to the previous are skipped.
Comprehensiveness = f(x) − f(x without the rationale) (higher: the ranking found what matters);
sufficiency = f(x) − f(rationale alone) (lower: the rationale carries the prediction); AOPC is
the mean over the kept k. Tokens are removed from the ids (ferret decodes and re-tokenizes the
text, which can re-merge word pieces; ids do not). A ranking with no positive token has
comprehensiveness 0 and the sufficiency of keeping nothing.

`grid="fixed"` (the suite's default) keeps every k level for every method: an empty rationale (no
positive score left) counts as removing nothing, a repeated one counts again. ferret's skipping
averages a method with few positive scores over fewer (small-k) levels than an all-positive random
ranking, which confounds the comparison with chance; on a fixed grid both average the same levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.stats.ranks import spearman

THRESHOLDS = np.arange(0.1, 1.1, 0.1)   # ferret's removal_args["thresholds"], float steps included


def top_k(scores: np.ndarray, k: int, only_positive: bool) -> list[int]:
    """ferret's _get_id_tokens_top_k: the k highest scores, best first (positives only if asked)."""
    order = np.array(scores).argsort()[-k:][::-1]
    return [int(i) for i in order if not only_positive or scores[i] > 0]


GRID_FIXED = "fixed"
GRID_FERRET = "ferret"


def grid_sizes(n: int) -> list[int]:
    """The distinct rationale sizes k = int(fraction · n) ≥ 1 of the shared grid (depends on n only)."""
    return sorted({int(fraction * n) for fraction in THRESHOLDS} - {0})


def rationales(scores: np.ndarray, only_positive: bool = True, grid: str = GRID_FERRET) -> list[list[int]]:
    """Token index sets for k = 10%..100% of len(scores). ferret grid: empty and repeated sets left
    out; fixed grid: one set per size of `grid_sizes` (possibly empty or repeated)."""
    scores = np.asarray(scores, dtype=np.float64)
    if grid == GRID_FIXED:
        return [top_k(scores, k, only_positive) for k in grid_sizes(len(scores))]
    out: list[list[int]] = []
    last: set[int] | None = None
    for fraction in THRESHOLDS:
        k = int(fraction * len(scores))
        if k <= 0:
            continue
        chosen = top_k(scores, k, only_positive)
        if not chosen or set(chosen) == last:
            continue
        out.append(chosen)
        last = set(chosen)
    return out


@dataclass(frozen=True)
class FaithfulnessPlan:
    """The masked inputs one ranking needs: comprehensiveness first, then sufficiency."""

    comprehensiveness: list[np.ndarray]
    sufficiency: list[np.ndarray]


def plan(scores: np.ndarray, only_positive: bool = True, grid: str = GRID_FERRET) -> FaithfulnessPlan:
    n = len(scores)
    sets = rationales(scores, only_positive, grid)
    comp, suff = [], []
    for chosen in sets:
        keep = np.ones(n, dtype=bool)
        keep[chosen] = False
        comp.append(keep)
        suff.append(~keep)
    if not sets:
        suff.append(np.zeros(n, dtype=bool))
    return FaithfulnessPlan(comp, suff)


def aopc(full: float, masked: np.ndarray) -> float:
    """Mean drop f(x) − f(masked) over the masked inputs (0 when there are none)."""
    masked = np.asarray(masked, dtype=np.float64)
    return float(np.mean(full - masked)) if masked.size else 0.0


def loo_rank_correlation(scores: np.ndarray, loo_drops: np.ndarray) -> float:
    """Spearman correlation of a method's scores with leave-one-out drops f(x) − f(x without i)."""
    return spearman(scores, loo_drops)
