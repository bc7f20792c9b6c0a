"""The chance baseline each method is held to: a random permutation of its own scores.

A permutation keeps the method's scores (so the same number of positive scores, the same rationale
sizes on the shared k grid) and only scrambles which token gets which, so a method that marks few
tokens positive is compared with a null that marks equally few. One permutation per example gives
a paired difference d = AOPC(method) − AOPC(permuted) whose sign is a fair coin under H0 ("the ranking
is no better than chance"), which is what the exact sign-flip test needs (several permutations
averaged would make d skewed under H0, and the test only approximate).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

NULL_SUFFIX = "~permuted"


def null_name(method: str) -> str:
    return f"{method}{NULL_SUFFIX}"


def permuted_rankings(rankings: dict[str, dict[int, np.ndarray]], indices: Sequence[int],
                      rng_for: Callable[[str, int], np.random.Generator]) -> dict[str, dict[int, np.ndarray]]:
    """{method~permuted: {subject: a seeded permutation of that method's scores}}."""
    return {null_name(method): {i: rng_for(method, i).permutation(np.asarray(by_subject[i], dtype=np.float64))
                                for i in indices}
            for method, by_subject in rankings.items()}
