"""LIME: lime's LimeTextExplainer (its sampler, cosine kernel and weighted ridge) on our token units.

LIME perturbs a placeholder document with one word per feature ("t0 t1 … t{n-1}", positions
not bag-of-words, so a repeated token is two features); the classifier_fn reads back which
placeholders survived, builds every masked input of the neighbourhood and scores them all in
one scorer call. It returns one column, f itself (p(target) for a classifier, log p(continuation)
for a causal LM: LIME's ridge fits any real-valued output). Seeded through `random_state`.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

import numpy as np
from lime.lime_text import LimeTextExplainer

from suites.explainability.lockstep import run_lockstep
from suites.explainability.scoring import Scorer
from suites.explainability.tokens import Masking

_PLACEHOLDER = re.compile(r"\bt(\d+)\b")
LABEL = 0


def placeholder_document(n: int) -> str:
    return " ".join(f"t{i}" for i in range(n))


def keep_vector(document: str, n: int) -> np.ndarray:
    keep = np.zeros(n, dtype=bool)
    keep[[int(m) for m in _PLACEHOLDER.findall(document)]] = True
    return keep


def lime_weights(f: Callable[[np.ndarray], np.ndarray], n: int, *, num_samples: int, kernel_width: float,
                 seed: int) -> np.ndarray:
    """LIME's local linear weights for n features; f maps an (m, n) keep matrix to m values."""
    explainer = LimeTextExplainer(kernel_width=kernel_width, bow=False, feature_selection="none",
                                  random_state=seed % 2**32)

    def classifier_fn(documents: list[str]) -> np.ndarray:
        keeps = np.stack([keep_vector(d, n) for d in documents])
        return np.asarray(f(keeps), dtype=np.float64).reshape(-1, 1)

    explanation = explainer.explain_instance(placeholder_document(n), classifier_fn, labels=(LABEL,),
                                             num_features=n, num_samples=num_samples)
    weights = np.zeros(n)
    for feature, weight in explanation.local_exp[LABEL]:
        weights[feature] = weight
    return weights


def lime_scores(scorer: Scorer, indices: Sequence[int], method: str, *, num_samples: int, kernel_width: float,
                masking: Masking, seed_for: Callable[[int], int]) -> list[np.ndarray]:
    """LIME weights of every subject; all neighbourhoods go to the scorer in one call (lockstep)."""
    jobs = []
    for i in indices:
        n, seed = len(scorer.subjects[i].units), seed_for(i)
        jobs.append((i, seed, lambda model_fn, n=n, seed=seed: lime_weights(
            model_fn, n, num_samples=num_samples, kernel_width=kernel_width, seed=seed)))
    return run_lockstep(jobs, lambda request: scorer.values(method, request, masking))
