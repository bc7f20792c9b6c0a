"""SHAP: shap's Partition explainer (Owen values over shap's text partition tree) on our token units.

The masker is a thin shap Masker over feature indices: a masked "input" is the keep-vector
itself, and the model function turns a whole batch of keep-vectors into masked inputs and
scores them in one scorer call (shap's default hands ~5 strings per call; `batch_size` raises
that to what the queue holds). The hierarchy is shap's own `partition_tree` over the token
strings, with word pieces marked as shap's Text masker marks them. shap breaks ties in its
queue with `np.random`; the global state is seeded per explanation and restored afterwards.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import shap
from shap.maskers._text import partition_tree

from suites.explainability.lockstep import run_lockstep
from suites.explainability.scoring import Scorer
from suites.explainability.tokens import Masking, shap_cluster_tokens


class FeatureMasker(shap.maskers.Masker):
    """Masks n features; the masked sample is the boolean keep-vector."""

    def __init__(self, n_features: int, clustering: np.ndarray) -> None:
        self.shape = (1, n_features)
        self.clustering = clustering
        self.immutable_outputs = True

    def __call__(self, mask: np.ndarray, *args: object) -> tuple[np.ndarray]:
        keep = self._standardize_mask(mask, *args)
        return (np.asarray(keep, dtype=bool).reshape(1, -1).copy(),)


def text_clustering(tokens: list[str]) -> np.ndarray:
    """shap's Text-masker hierarchy for these token strings (heights = rescaled cluster sizes)."""
    tree = partition_tree(tokens, [])
    tree[:, 2] = tree[:, 3]
    tree[:, 2] /= tree[:, 2].max()
    return tree


def owen_values(f: Callable[[np.ndarray], np.ndarray], tokens: list[str], *, max_evals: int,
                batch_size: int) -> np.ndarray:
    """Owen values of f over len(tokens) features; f maps an (m, n) keep matrix to m values.
    shap draws its tie-breaks from numpy's global generator: seed it first (see partition_shap)."""
    n = len(tokens)
    if n == 1:
        both = f(np.array([[True], [False]]))
        return np.array([both[0] - both[1]])
    explainer = shap.explainers.PartitionExplainer(f, FeatureMasker(n, text_clustering(tokens)))
    explanation = explainer(np.ones((1, n), dtype=bool), max_evals=max_evals, batch_size=batch_size, silent=True)
    return np.asarray(explanation.values[0], dtype=np.float64)


def partition_shap(f: Callable[[np.ndarray], np.ndarray], tokens: list[str], *, max_evals: int,
                   batch_size: int, seed: int) -> np.ndarray:
    """One explanation alone, with shap's tie-breaking seeded (the caller's numpy state is kept)."""
    job = lambda model_fn: owen_values(model_fn, tokens, max_evals=max_evals, batch_size=batch_size)  # noqa: E731
    return run_lockstep([(0, seed, job)], lambda request: f(np.stack([keep for _, keep in request])))[0]


def shap_scores(scorer: Scorer, indices: Sequence[int], method: str, *, max_evals: int, batch_size: int,
                masking: Masking, seed_for: Callable[[int], int]) -> list[np.ndarray]:
    """SHAP values of every subject: the explanations run in lockstep, so each round of their queues
    is one scorer call for all subjects together."""
    jobs = []
    for i in indices:
        tokens = shap_cluster_tokens(scorer.subjects[i].units)
        jobs.append((i, seed_for(i), lambda model_fn, tokens=tokens: owen_values(
            model_fn, tokens, max_evals=max_evals, batch_size=batch_size)))
    return run_lockstep(jobs, lambda request: scorer.values(method, request, masking))
