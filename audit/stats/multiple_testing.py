"""Multiple-comparison control for a regression check across many metrics (pure functions).

A nightly comparison tests dozens of metrics; at α = 0.05 each, about one in twenty unchanged
metrics would be "significant" every night. Holm (1979) controls the family-wise error rate
(the chance of any false alarm) and is uniformly more powerful than Bonferroni; Benjamini &
Hochberg (1995) control the false discovery rate (the expected share of false alarms among the
flags) and suit large families. Both return adjusted p-values: reject where p_adj < α.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

HOLM, BH, NONE = "holm", "bh", "none"


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values: max over j ≤ i of (m − j + 1) · p_(j), capped at 1."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out.tolist()


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """BH step-up adjusted p-values: min over j ≥ i of m · p_(j) / j, capped at 1."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = m * p[order] / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out.tolist()


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """Adjusted p-values by `method` (holm, bh or none)."""
    if method == HOLM:
        return holm(p_values)
    if method == BH:
        return benjamini_hochberg(p_values)
    if method == NONE:
        return [float(p) for p in p_values]
    raise ValueError(f"unknown correction {method!r}; use holm, bh or none")
