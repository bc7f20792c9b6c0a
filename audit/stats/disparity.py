"""Group-gap statistics recomputed from per-example outcomes, vectorised over bootstrap resamples.

Why: a paired comparison of two runs' fairness disparities draws the same examples (within each group)
for both runs and recomputes each run's disparity on every draw. `max_gap` is the demographic parity
difference (max − min over groups of the mean prediction, fairlearn's definition); `eo_gap` the
equalized-odds difference (the larger of the TPR and FPR spreads over groups holding both classes).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def group_codes(strata: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """An integer code per example and the group names (sorted)."""
    names = sorted(set(strata))
    lookup = {g: i for i, g in enumerate(names)}
    return np.array([lookup[s] for s in strata], dtype=int), names


def _group_means(values: np.ndarray, codes: np.ndarray, mask: np.ndarray | None, n_groups: int) -> np.ndarray:
    """(B, G) mean of `values` per group over the drawn rows (NaN where a group has no eligible row).

    One weighted bincount over (resample, group) cells: O(B·n), not O(B·n·G) masked sums."""
    values = np.asarray(values, float)
    lead = values.shape[:-1]
    rows = int(np.prod(lead)) if lead else 1
    v = values.reshape(rows, -1)
    cell = np.broadcast_to(codes, values.shape).reshape(rows, -1) + n_groups * np.arange(rows)[:, None]
    if mask is not None:
        keep = np.broadcast_to(mask, values.shape).reshape(rows, -1)
        cell, v = cell[keep], v[keep]
    sums = np.bincount(cell.ravel(), weights=v.ravel(), minlength=rows * n_groups)
    counts = np.bincount(cell.ravel(), minlength=rows * n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return out.reshape(lead + (n_groups,))


def _spread(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.nanmax(x, axis=-1) - np.nanmin(x, axis=-1)


def max_gap(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """max − min over groups of the group mean; `values`/`codes` are (..., n) (drawn rows)."""
    return _spread(_group_means(values, codes, None, n_groups))


def eo_gap(predictions: np.ndarray, labels: np.ndarray, codes: np.ndarray, n_groups: int,
           eligible: np.ndarray) -> np.ndarray:
    """max(TPR spread, FPR spread) over the `eligible` groups (those holding both classes)."""
    positive = labels.astype(bool)
    tpr = _group_means(predictions, codes, positive, n_groups)[..., eligible]
    fpr = _group_means(predictions, codes, ~positive, n_groups)[..., eligible]
    return np.maximum(_spread(tpr), _spread(fpr))


def eligible_groups(labels: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Groups with at least one positive and one negative label (where TPR and FPR are defined)."""
    pos = np.bincount(codes, weights=labels.astype(float), minlength=n_groups)
    count = np.bincount(codes, minlength=n_groups)
    return (pos > 0) & (pos < count)
