"""Lockstep runner: one scorer call per round for many explanations, each with its own seeded numpy stream."""

from __future__ import annotations

import numpy as np
import pytest

from suites.explainability.lockstep import run_lockstep
from suites.explainability.objective import ClassifierObjective
from suites.explainability.scoring import Scorer
from suites.explainability.shap_method import shap_scores
from suites.explainability.subjects import Subject, encode_units
from suites.explainability.tokens import Masking
from tests.explain_fakes import BowAdapter


def _job(rounds: int, width: int):
    """Draws from numpy's global generator between model calls, as shap's queue does."""
    def job(model_fn):
        draws, outputs = [], []
        for r in range(rounds):
            draws.append(np.random.randn())
            outputs.append(model_fn(np.ones((r + 1, width), dtype=bool)).tolist())
        return draws, outputs
    return job


def test_rounds_are_merged_and_streams_match_running_alone():
    calls = []

    def score(request):
        calls.append(len(request))
        return np.array([float(i) for i, _ in request])

    jobs = [(i, 100 + i, _job(rounds=i + 1, width=3)) for i in range(4)]
    together = run_lockstep(jobs, score)
    assert calls == [4, 3 * 2, 2 * 3, 1 * 4]          # round r: every unfinished job's r + 1 rows
    for i, (subject, seed, job) in enumerate(jobs):
        alone = run_lockstep([(subject, seed, job)], score)[0]
        assert together[i] == alone
        assert alone[1][0] == [float(subject)]        # answers go back to the job that asked


def test_groups_give_the_same_results():
    jobs = [(i, 100 + i, _job(rounds=3, width=2)) for i in range(5)]
    score = lambda request: np.array([float(i) for i, _ in request])  # noqa: E731
    assert run_lockstep(jobs, score, group_size=2) == run_lockstep(jobs, score)


def test_caller_numpy_state_is_restored():
    np.random.seed(7)
    expected = np.random.RandomState(7).randn(3)
    run_lockstep([(0, 1, _job(2, 2)), (1, 2, _job(3, 2))], lambda request: np.zeros(len(request)))
    np.testing.assert_array_equal(np.random.randn(3), expected)


def test_an_error_in_one_explanation_reaches_the_caller():
    def broken(model_fn):
        model_fn(np.ones((1, 2), dtype=bool))
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_lockstep([(0, 1, _job(3, 2)), (1, 2, broken), (2, 3, _job(3, 2))], lambda r: np.zeros(len(r)))


def test_shap_over_many_sentences_makes_one_call_per_round():
    weights = {"good": 0.1, "bad": -0.1, "great": 0.2, "awful": -0.2}
    adapter = BowAdapter(weights)
    texts = ["good and great", "an awful , bad film about good people", "great great good bad awful fine ok"]
    units = encode_units(adapter, texts)
    subjects = [Subject(str(i), str(i), u, 1, "positive") for i, u in enumerate(units)]
    scorer = Scorer(ClassifierObjective(adapter), subjects)
    scores = shap_scores(scorer, [0, 1, 2], "shap", max_evals=200, batch_size=512, masking=Masking.REMOVE,
                         seed_for=lambda i: i)
    for u, s in zip(units, scores):
        np.testing.assert_allclose(s, [weights.get(t.lower(), 0.0) for t in u.tokens], atol=1e-9)
    together = adapter.calls["classify_ids"]
    alone = BowAdapter(weights)
    single = Scorer(ClassifierObjective(alone), [Subject("1", "1", encode_units(alone, [texts[1]])[0], 1, "p")])
    shap_scores(single, [0], "shap", max_evals=200, batch_size=512, masking=Masking.REMOVE, seed_for=lambda i: i)
    assert together == alone.calls["classify_ids"]   # the longest sentence sets the number of rounds
