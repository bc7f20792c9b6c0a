"""SHAP: shap's Partition explainer (Owen values over shap's text partition tree) on our token units.

The masker is a thin shap Masker over feature indices: a masked "input" is the keep-vector
itself, and the model function turns a whole batch of keep-vectors into masked inputs and
scores them in one scorer call (shap's default hands ~5 strings per call; `batch_size` raises
that to what the queue holds). The hierarchy is shap's own `partition_tree` over the token
strings, with word pieces marked as shap's Text masker marks them. shap breaks ties in its
queue with `np.random`; the global state is seeded per explanation and restored afterwards.

Budget: resolving every leaf of the tree takes 2 evaluations per (internal node, context), and a
node at depth d is reached in 2^d contexts, so `required_evals` is 2 + Σ 2^(d+1) over the internal
nodes; by default each explanation gets exactly that (up to `max_evals_cap`), and one whose budget
is below it is reported as truncated (its queue ends with clusters whose tokens share one value).
Inputs of at most `exact_max_units` tokens get exact Shapley values by enumeration instead.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import shap
from shap.maskers._text import partition_tree

from suites.explainability.exact_shapley import exact_shapley
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


def required_evals(clustering: np.ndarray, n: int) -> int:
    """Model evaluations shap's Partition explainer needs to resolve every leaf of `clustering`."""
    if n <= 1:
        return 2
    total, stack = 2, [(2 * n - 2, 0)]
    while stack:
        node, depth = stack.pop()
        if node < n:
            continue
        total += 2 ** (depth + 1)
        row = clustering[node - n]
        stack += [(int(row[0]), depth + 1), (int(row[1]), depth + 1)]
    return total


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


def partition_budget(tokens: list[str], max_evals: int | None, cap: int) -> tuple[int, int]:
    """(max_evals to use, evaluations needed to resolve every leaf)."""
    needed = required_evals(text_clustering(tokens), len(tokens)) if len(tokens) > 1 else 2
    return (min(needed, cap) if max_evals is None else max_evals), needed


def partition_shap(f: Callable[[np.ndarray], np.ndarray], tokens: list[str], *, max_evals: int | None,
                   batch_size: int, seed: int, cap: int = 1 << 20) -> np.ndarray:
    """One explanation alone, with shap's tie-breaking seeded (the caller's numpy state is kept);
    `max_evals` None: the budget that resolves every leaf (up to `cap`)."""
    budget, _ = partition_budget(tokens, max_evals, cap)
    job = lambda model_fn: owen_values(model_fn, tokens, max_evals=budget, batch_size=batch_size)  # noqa: E731
    return run_lockstep([(0, seed, job)], lambda request: f(np.stack([keep for _, keep in request])))[0]


def shap_scores(scorer: Scorer, indices: Sequence[int], method: str, *, max_evals: int | None, batch_size: int,
                masking: Masking, seed_for: Callable[[int], int], max_evals_cap: int = 4096,
                exact_max_units: int = 0, info: dict[int, dict] | None = None) -> list[np.ndarray]:
    """SHAP values of every subject: the explanations run in lockstep, so each round of their queues
    is one scorer call for all subjects together. `info` gets, per subject, the estimator used and the
    partition budget against the evaluations a full resolution needs."""
    jobs = []
    for i in indices:
        tokens = shap_cluster_tokens(scorer.subjects[i].units)
        n = len(tokens)
        if 1 < n <= exact_max_units:
            jobs.append((i, seed_for(i), lambda model_fn, n=n: exact_shapley(model_fn, n)))
            entry = {"estimator": "exact", "coalitions": 2 ** n}
        else:
            budget, needed = partition_budget(tokens, max_evals, max_evals_cap)
            jobs.append((i, seed_for(i), lambda model_fn, tokens=tokens, budget=budget: owen_values(
                model_fn, tokens, max_evals=budget, batch_size=batch_size)))
            entry = {"estimator": "partition", "max_evals": budget, "needed": needed, "truncated": budget < needed}
        if info is not None:
            info[i] = entry
    return run_lockstep(jobs, lambda request: scorer.values(method, request, masking))
