"""The chance baseline: each method against permutations of its own scores on a fixed k grid (no confound)."""

from __future__ import annotations

import numpy as np

from audit.results import Verdict
from suites.explainability import faithfulness as F
from suites.explainability.chance import permuted_rankings
from suites.explainability.chance_verdicts import chance_verdicts
from suites.explainability.trust_scores import Evaluation, faithfulness_scores
from suites.explainability.objective import ClassifierObjective
from suites.explainability.scoring import Scorer
from suites.explainability.subjects import Subject, encode_units
from tests.explain_fakes import BowAdapter

N_EXAMPLES, N_WORDS = 40, 12


def _setup(seed: int = 0):
    """An additive model: one most important word per sentence, small positive effects for the rest."""
    rng = np.random.default_rng(seed)
    weights, texts, truth = {}, [], []
    for e in range(N_EXAMPLES):
        words = [f"w{e}_{j}" for j in range(N_WORDS)]
        values = rng.uniform(0.0, 0.04, N_WORDS)   # many tokens matter a little...
        values[rng.integers(N_WORDS)] = 0.12          # ...one matters most
        weights.update(zip(words, values))
        texts.append(" ".join(words))
        truth.append(values)
    adapter = BowAdapter(weights, bias=0.2)
    units = encode_units(adapter, texts)
    scorer = Scorer(ClassifierObjective(adapter), [Subject(str(e), str(e), u, 1, "positive")
                                                   for e, u in enumerate(units)])
    return scorer, truth, rng


def _evaluate(scorer, rankings, grid):
    indices = list(range(N_EXAMPLES))
    ev = Evaluation(example_ids=[str(i) for i in indices])
    nulls = permuted_rankings(rankings, indices, lambda m, i: np.random.default_rng([7, i, len(m)]))
    faithfulness_scores(scorer, indices, rankings, True, ev, grid=grid, nulls=nulls)
    return ev, chance_verdicts(ev, list(rankings), alpha=0.05, min_gain=0.05, min_examples=20,
                               seed=lambda *k: 0)


def test_one_positive_correct_ranking_beats_chance_and_a_random_one_does_not():
    scorer, truth, rng = _setup()
    one_positive = {}
    for i, values in enumerate(truth):       # the right top token, and the only positive score
        scores = -rng.random(N_WORDS) * 0.01
        scores[int(np.argmax(values))] = 1.0
        one_positive[i] = scores
    random_ranking = {i: rng.random(N_WORDS) for i in range(N_EXAMPLES)}
    ev, verdicts = _evaluate(scorer, {"correct_one_positive": one_positive, "random": random_ranking}, F.GRID_FIXED)
    by_method = {v.method: v for v in verdicts}
    assert by_method["correct_one_positive"].verdict == Verdict.PASS
    assert by_method["correct_one_positive"].p_holm < 0.01
    assert by_method["random"].verdict != Verdict.PASS and by_method["random"].p_value > 0.05
    # the confound of the issue, for contrast: on ferret's grid the single-positive ranking scores below an
    # all-positive random ranking, though it found the one token that matters
    ev_ferret, _ = _evaluate(scorer, {"correct_one_positive": one_positive, "random": random_ranking}, F.GRID_FERRET)
    assert ev_ferret.comprehensiveness["correct_one_positive"].mean() < ev_ferret.comprehensiveness["random"].mean()
    assert by_method["correct_one_positive"].gain > by_method["random"].gain + 0.05


def test_fixed_grid_counts_every_level_for_every_method():
    scores = np.array([0.5, -0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -0.7, -0.8, -0.9])
    sets = F.rationales(scores, only_positive=True, grid=F.GRID_FIXED)
    assert len(sets) == 10 and all(s == [0] for s in sets)           # one positive: the same set at every k
    assert F.grid_sizes(25) == [2, 5, 7, 10, 12, 15, 17, 20, 22, 25] and F.grid_sizes(3) == [1, 2, 3]
    nothing = F.plan(np.array([-1.0, -2.0]), grid=F.GRID_FIXED)
    assert [k.tolist() for k in nothing.comprehensiveness] == [[True, True]] * 2   # removing nothing: drop 0


def test_small_n_is_inconclusive_never_beats_chance():
    scorer, truth, _ = _setup()
    perfect = {i: np.asarray(v) for i, v in enumerate(truth)}
    indices = list(range(6))
    ev = Evaluation(example_ids=[str(i) for i in indices])
    nulls = permuted_rankings({"truth": perfect}, indices, lambda m, i: np.random.default_rng(i))
    faithfulness_scores(scorer, indices, {"truth": perfect}, True, ev, grid=F.GRID_FIXED, nulls=nulls)
    (verdict,) = chance_verdicts(ev, ["truth"], alpha=0.05, min_gain=0.05, min_examples=20, seed=lambda *k: 0)
    assert verdict.gain > 0.05 and verdict.verdict == Verdict.INCONCLUSIVE and not verdict.power.can_test
