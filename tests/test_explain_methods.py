"""Attribution methods on a bag-of-words linear classifier whose true attributions are its weights."""

from __future__ import annotations

import numpy as np
import pytest

from suites.explainability.integrated_gradients import integrated_gradients
from suites.explainability.lime_method import keep_vector, lime_scores, placeholder_document
from suites.explainability.objective import ClassifierObjective
from suites.explainability.occlusion import occlusion_scores
from suites.explainability.scoring import Scorer
from suites.explainability.shap_method import partition_shap, shap_scores, text_clustering
from suites.explainability.subjects import Subject, encode_units
from suites.explainability.tokens import Masking
from tests.explain_fakes import BowAdapter

WEIGHTS = {"brilliant": 0.2, "moving": 0.1, "dull": -0.25, "not": -0.05, "plot": 0.0, "the": 0.0}
TEXT = "the plot is not dull but brilliant and moving , the acting dull"


def _setup(text: str = TEXT, target: int = 1):
    adapter = BowAdapter(WEIGHTS)
    units = encode_units(adapter, [text])[0]
    subject = Subject(id="s0", source_id="s0", units=units, target=target, target_name=adapter.labels[target])
    scorer = Scorer(ClassifierObjective(adapter), [subject])
    truth = np.array([WEIGHTS.get(t.lower(), 0.0) for t in units.tokens]) * (1 if target == 1 else -1)
    return adapter, scorer, truth


def _seed(i: int) -> int:
    return 1234 + i


@pytest.mark.parametrize("target", [0, 1])
def test_shap_recovers_the_true_attributions(target):
    adapter, scorer, truth = _setup(target=target)
    scores = shap_scores(scorer, [0], "shap", max_evals=500, batch_size=512, masking=Masking.REMOVE, seed_for=_seed)
    np.testing.assert_allclose(scores[0], truth, atol=1e-9)
    assert np.isclose(scores[0].sum(), scorer.full("x", [0])[0] - scorer.values("x", [(0, np.zeros(len(truth)))])[0])


def test_shap_with_a_small_budget_still_sums_to_the_output_change():
    adapter, scorer, truth = _setup()
    scores = shap_scores(scorer, [0], "shap", max_evals=20, batch_size=512, masking=Masking.REMOVE, seed_for=_seed)
    assert np.isclose(scores[0].sum(), truth.sum())   # Owen values are efficient at any depth of the tree


def test_shap_batches_calls_and_never_sends_an_input_twice():
    adapter, scorer, _ = _setup()
    shap_scores(scorer, [0], "shap", max_evals=300, batch_size=512, masking=Masking.REMOVE, seed_for=_seed)
    assert len(adapter.seen) == len(set(adapter.seen))
    cost = scorer.costs[("shap", "s0")]
    assert cost.requests > cost.evaluations == len(adapter.seen)
    assert adapter.calls["classify_ids"] <= 12   # shap's queue, not ~5 strings per call


def test_lime_gets_the_signs_of_the_decisive_words():
    adapter, scorer, truth = _setup()
    weights = lime_scores(scorer, [0], "lime", num_samples=500, kernel_width=25.0, masking=Masking.REMOVE,
                          seed_for=_seed)[0]
    decisive = np.abs(truth) >= 0.05
    assert np.all(np.sign(weights[decisive]) == np.sign(truth[decisive]))
    assert np.abs(weights[~decisive]).max() < 0.02
    assert adapter.calls["classify_ids"] == 1      # the whole neighbourhood in one call


def test_lime_placeholders_round_trip():
    doc = placeholder_document(12)
    assert keep_vector(doc, 12).all()
    assert keep_vector(doc.replace("t3 ", "UNKWORDZ ").replace("t11", "UNKWORDZ"), 12).tolist() == \
        [i not in (3, 11) for i in range(12)]


def test_occlusion_is_the_weight_of_each_token():
    _, scorer, truth = _setup()
    np.testing.assert_allclose(occlusion_scores(scorer, [0], "occlusion")[0], truth, atol=1e-12)


def test_mask_token_masking_replaces_instead_of_removing():
    adapter, scorer, truth = _setup()
    occlusion_scores(scorer, [0], "occlusion", Masking.MASK_TOKEN)
    lengths = {len(ids) for ids in adapter.seen}
    assert lengths == {len(scorer.subjects[0].units.input_ids)}
    assert any(3 in ids for ids in adapter.seen)


@pytest.mark.parametrize("target", [0, 1])
def test_integrated_gradients_complete_and_match_the_weights(target):
    adapter, scorer, truth = _setup(target=target)
    result = integrated_gradients(adapter, scorer.subjects, steps=8, baseline="pad")
    np.testing.assert_allclose(result.scores[0], truth, atol=1e-9)
    assert result.completeness_gaps[0] < 1e-3


def test_same_seed_same_attributions_and_another_seed_differs():
    def run(seed_for):
        _, scorer, _ = _setup()
        lime = lime_scores(scorer, [0], "lime", num_samples=100, kernel_width=25.0, masking=Masking.REMOVE,
                           seed_for=seed_for)[0]
        return lime
    first, second = run(_seed), run(_seed)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, run(lambda i: 99))


def test_shap_tie_breaking_is_seeded_and_leaves_global_numpy_state_alone():
    rng_state = np.random.get_state()
    f = lambda keeps: np.tanh(keeps.astype(float) @ np.linspace(-1, 1, keeps.shape[1]) * 3) ** 2  # noqa: E731
    tokens = [f"w{i}" for i in range(16)]
    a = partition_shap(f, tokens, max_evals=40, batch_size=8, seed=5)
    b = partition_shap(f, tokens, max_evals=40, batch_size=8, seed=5)
    np.testing.assert_array_equal(a, b)
    after = np.random.get_state()
    assert all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in zip(rng_state, after))


def test_text_clustering_merges_word_pieces_first():
    tree = text_clustering(["un", "##believ", "##able", "film"])
    first_merge = set(tree[0, :2].astype(int))
    assert first_merge <= {0, 1, 2}
