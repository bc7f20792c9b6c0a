"""Exact Shapley values by enumerating every coalition: the reference SHAP is held to on short inputs.

φ_i = Σ_{S ⊆ N∖{i}} |S|! (n − |S| − 1)! / n! · (v(S ∪ {i}) − v(S)), with v(S) = f(only S kept). All 2^n
keep-vectors go to the model in one call (n ≤ EXACT_MAX_UNITS keeps that at ≤ 1,024 inputs).
"""

from __future__ import annotations

from math import factorial
from typing import Callable

import numpy as np

EXACT_MAX_UNITS = 10
HARD_LIMIT = 16   # 65,536 coalitions


def coalitions(n: int) -> np.ndarray:
    """Every keep-vector over n features, row c having bit j of c as feature j."""
    codes = np.arange(2 ** n, dtype=np.int64)[:, None]
    return ((codes >> np.arange(n, dtype=np.int64)[None, :]) & 1).astype(bool)


def shapley_from_values(values: np.ndarray, n: int) -> np.ndarray:
    """Shapley values from v over all 2^n coalitions (indexed as in `coalitions`)."""
    values = np.asarray(values, dtype=np.float64)
    sizes = np.array([bin(c).count("1") for c in range(2 ** n)])
    weight = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])
    phi = np.zeros(n)
    codes = np.arange(2 ** n)
    for i in range(n):
        without = codes[(codes >> i) & 1 == 0]
        phi[i] = float(np.sum(weight[sizes[without]] * (values[without | (1 << i)] - values[without])))
    return phi


def exact_shapley(f: Callable[[np.ndarray], np.ndarray], n: int) -> np.ndarray:
    """Exact Shapley values of f over n features; f maps an (m, n) keep matrix to m values."""
    if not 1 <= n <= HARD_LIMIT:
        raise ValueError(f"exact Shapley values need 1..{HARD_LIMIT} features (got {n})")
    return shapley_from_values(np.asarray(f(coalitions(n)), dtype=np.float64), n)
