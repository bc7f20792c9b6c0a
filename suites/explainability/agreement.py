"""Agreement between two methods' token scores on the same input: rank correlation and top-k overlap."""

from __future__ import annotations

import numpy as np

from audit.stats.ranks import spearman


def top_k_overlap(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """|top-k(a) ∩ top-k(b)| / k with k = min(k, n): do both put the same tokens first?"""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"top_k_overlap needs equal lengths ({a.size} vs {b.size})")
    k = min(k, a.size)
    if k == 0:
        return float("nan")
    first_a = set(np.argsort(-a, kind="stable")[:k].tolist())
    first_b = set(np.argsort(-b, kind="stable")[:k].tolist())
    return len(first_a & first_b) / k


def agreement_spearman(a: np.ndarray, b: np.ndarray) -> float:
    return spearman(a, b)
