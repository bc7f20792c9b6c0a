"""SHAP held to exact Shapley values: enumeration on ≤ 10 units, and full leaf resolution on 25 units."""

from __future__ import annotations

from itertools import permutations

import numpy as np
import pytest

from audit.stats import spearman
from suites.explainability.exact_shapley import coalitions, exact_shapley
from suites.explainability.objective import ClassifierObjective
from suites.explainability.scoring import Scorer
from suites.explainability.shap_method import partition_budget, required_evals, shap_scores, text_clustering
from suites.explainability.subjects import Subject, encode_units
from suites.explainability.tokens import Masking
from tests.explain_fakes import BowAdapter


def _game(n: int, seed: int):
    """A non-additive set function: main effects, pairwise and a three-way interaction."""
    rng = np.random.default_rng(seed)
    main, pair = rng.normal(size=n), rng.normal(size=(n, n)) * 0.5
    triple = rng.choice(n, size=min(3, n), replace=False)

    def v(keep: np.ndarray) -> float:
        k = keep.astype(float)
        return float(main @ k + k @ np.triu(pair, 1) @ k + 0.7 * np.prod(k[triple]))
    return v


def _by_orderings(v, n: int) -> np.ndarray:
    """Shapley values as the mean marginal contribution over every ordering (an independent formula)."""
    phi = np.zeros(n)
    orders = list(permutations(range(n)))
    for order in orders:
        keep = np.zeros(n, dtype=bool)
        before = v(keep)
        for j in order:
            keep[j] = True
            after = v(keep)
            phi[j] += after - before
            before = after
    return phi / len(orders)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_exact_shapley_matches_the_ordering_formula(n):
    v = _game(n, seed=n)
    ours = exact_shapley(lambda keeps: np.array([v(k) for k in keeps]), n)
    np.testing.assert_allclose(ours, _by_orderings(v, n), atol=1e-10)
    assert ours.sum() == pytest.approx(v(np.ones(n, bool)) - v(np.zeros(n, bool)))   # efficiency


@pytest.mark.parametrize("n", [2, 4, 6, 8, 9, 10])
def test_suite_shap_equals_exact_shapley_on_every_short_input(n):
    """The suite's SHAP on a (non-additive) bag-of-words model with ≤ 10 tokens: within 1e-6 of enumeration."""
    v = _game(n, seed=100 + n)
    words = [f"t{j}" for j in range(n)]
    adapter = BowAdapter({w: 0.0 for w in words}, bias=0.5)
    units = encode_units(adapter, [" ".join(words)])[0]
    scorer = Scorer(ClassifierObjective(adapter), [Subject("s", "s", units, 1, "positive")])
    positions = {tid: j for j, tid in enumerate(units.feature_ids)}
    # replace the model by the game: p(positive) = 0.5 + v(kept tokens) / 100
    adapter.p_positive = lambda ids: 0.5 + v(np.isin(list(positions), list(ids))) / 100  # type: ignore[method-assign]
    info: dict = {}
    (ours,) = shap_scores(scorer, [0], "shap", max_evals=None, batch_size=512, masking=Masking.REMOVE,
                          seed_for=lambda i: 0, exact_max_units=10, info=info)
    truth = _by_orderings(lambda keep: 0.5 + v(keep) / 100, n) if n <= 6 else \
        exact_shapley(lambda keeps: np.array([0.5 + v(k) / 100 for k in keeps]), n)
    np.testing.assert_allclose(ours, truth, atol=1e-6)
    assert info[0]["estimator"] == "exact"


def test_default_budget_on_25_additive_units_ranks_like_the_truth():
    rng = np.random.default_rng(0)
    weights = {f"w{j}": float(w) for j, w in enumerate(rng.normal(0, 0.02, 25))}
    adapter = BowAdapter(weights, bias=0.5)
    units = encode_units(adapter, [" ".join(weights)])[0]
    scorer = Scorer(ClassifierObjective(adapter), [Subject("s", "s", units, 1, "positive")])
    info: dict = {}
    (ours,) = shap_scores(scorer, [0], "shap", max_evals=None, batch_size=512, masking=Masking.REMOVE,
                          seed_for=lambda i: 0, exact_max_units=10, info=info)
    truth = np.array(list(weights.values()))
    assert spearman(ours, truth) >= 0.99 and np.allclose(ours, truth, atol=1e-9)
    assert info[0]["estimator"] == "partition" and not info[0]["truncated"]
    # the old fixed budget of 200 evaluations is a truncated queue: its ranking is worse
    info_small: dict = {}
    (small,) = shap_scores(scorer, [0], "shap", max_evals=100, batch_size=512, masking=Masking.REMOVE,
                           seed_for=lambda i: 0, exact_max_units=10, info=info_small)
    assert info_small[0]["truncated"] and spearman(small, truth) < spearman(ours, truth)


def test_required_evals_counts_every_context():
    # a balanced tree over 4 leaves: root (1 context) + 2 children (2 contexts each): 2 + 2 + 2·(2·2) = 12
    tree = np.array([[0, 1, 0.5, 2], [2, 3, 0.5, 2], [4, 5, 1.0, 4]], dtype=float)
    assert required_evals(tree, 4) == 12
    tokens = [f"w{j}" for j in range(25)]
    budget, needed = partition_budget(tokens, None, cap=10_000)
    assert budget == needed == required_evals(text_clustering(tokens), 25)
    assert partition_budget(tokens, None, cap=50) == (50, needed)
    assert coalitions(3).shape == (8, 3)
