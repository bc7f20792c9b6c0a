"""Pure metric functions of the explainability suite, against hand computations and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from audit.models.adapters.base import Encoding
from audit.stats.ranks import spearman
from suites.explainability import faithfulness as F
from suites.explainability.agreement import top_k_overlap
from suites.explainability.attention import rollout
from suites.explainability.objective import ClassifierObjective
from suites.explainability.scoring import Scorer
from suites.explainability.stability import stability, swap_typo, typo_variant
from suites.explainability.subjects import Subject, encode_units
from suites.explainability.tokens import Masking, TokenUnits, align_by_offsets, word_scores
from tests.explain_fakes import BowAdapter


def test_rationales_follow_ferrets_percentages_positives_and_repeats():
    scores = np.array([0.5, -0.2, 0.9, 0.1, -0.4, 0.3, 0.0, 0.2, -0.1, 0.05])
    # k = int(v * 10) for v = 0.1..1.0: 1..10; only positive scores; a set equal to the previous is skipped
    expected = [[2], [2, 0], [2, 0, 5], [2, 0, 5, 7], [2, 0, 5, 7, 3], [2, 0, 5, 7, 3, 9]]
    assert F.rationales(scores, only_positive=True) == expected
    everything = F.rationales(scores, only_positive=False)
    assert len(everything) == 10 and sorted(everything[-1]) == list(range(10))


def test_short_texts_skip_empty_rationales():
    # n = 3: int(0.1*3) = int(0.2*3) = 0 are skipped; k = 1 from 0.4, 2 from 0.7, 3 at 1.0
    assert [len(r) for r in F.rationales(np.array([0.3, 0.2, 0.1]))] == [1, 2, 3]
    assert F.rationales(np.array([-1.0, -2.0])) == []


def test_plan_and_aopc_by_hand():
    plan = F.plan(np.array([0.1, 0.9, -0.5, 0.4]))   # rationales: [1] (k=1), [1, 3] (k=2; token 0 at k=4)
    assert [k.tolist() for k in plan.comprehensiveness] == [[True, False, True, True], [True, False, True, False],
                                                          [False, False, True, False]]
    assert [k.tolist() for k in plan.sufficiency] == [[False, True, False, False], [False, True, False, True],
                                                      [True, True, False, True]]
    assert F.aopc(0.8, np.array([0.5, 0.2, 0.3])) == pytest.approx(0.8 - (0.5 + 0.2 + 0.3) / 3)
    assert F.aopc(0.8, np.array([])) == 0.0
    nothing = F.plan(np.array([-1.0, -2.0]))
    assert nothing.comprehensiveness == [] and [k.tolist() for k in nothing.sufficiency] == [[False, False]]


def test_true_ranking_is_more_comprehensive_than_random_rankings():
    weights = {f"w{i}": w for i, w in enumerate([0.12, -0.08, 0.05, 0.0, 0.09, -0.02, 0.03, 0.07, -0.1, 0.01])}
    adapter = BowAdapter(weights, bias=0.4)
    units = encode_units(adapter, [" ".join(weights)])[0]
    scorer = Scorer(ClassifierObjective(adapter), [Subject("s", "s", units, 1, "positive")])
    full = scorer.full("f", [0])[0]

    def comprehensiveness(scores: np.ndarray) -> float:
        return F.aopc(full, scorer.values("f", [(0, k) for k in F.plan(scores).comprehensiveness]))

    true = comprehensiveness(np.array(list(weights.values())))
    rng = np.random.default_rng(0)
    random = [comprehensiveness(rng.random(10)) for _ in range(50)]
    assert true > max(random)
    suff_true = F.aopc(full, scorer.values("f", [(0, k) for k in F.plan(np.array(list(weights.values()))).sufficiency]))
    assert suff_true < 0   # keeping only the supporting tokens raises p(positive) above f(x)


def test_spearman_matches_scipy_including_ties():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a, b = rng.integers(0, 5, 12).astype(float), rng.normal(size=12)
        assert spearman(a, b) == pytest.approx(sps.spearmanr(a, b).statistic)
    assert np.isnan(spearman(np.ones(4), np.arange(4.0)))
    assert np.isnan(spearman(np.array([1.0]), np.array([2.0])))


def test_top_k_overlap_by_hand():
    a = np.array([0.9, 0.8, 0.1, 0.0, 0.5])
    b = np.array([0.9, 0.0, 0.8, 0.1, 0.7])
    assert top_k_overlap(a, b, 2) == 0.5          # {0, 1} vs {0, 4}
    assert top_k_overlap(a, b, 3) == pytest.approx(2 / 3)   # {0, 1, 4} vs {0, 4, 2}
    assert top_k_overlap(a, b, 10) == 1.0         # k capped at n


def test_rollout_of_identity_attention_is_identity():
    eye = np.broadcast_to(np.eye(5), (3, 4, 5, 5))
    np.testing.assert_allclose(rollout(eye), np.eye(5))


def test_rollout_by_hand_for_two_layers():
    a1 = np.array([[[0.5, 0.5], [0.2, 0.8]], [[1.0, 0.0], [0.6, 0.4]]])   # (heads, L, L)
    a2 = np.array([[[0.3, 0.7], [0.9, 0.1]], [[0.1, 0.9], [0.5, 0.5]]])

    def layer(a):
        m = 0.5 * a.mean(axis=0) + 0.5 * np.eye(2)
        return m / m.sum(axis=1, keepdims=True)

    np.testing.assert_allclose(rollout(np.stack([a1, a2])), layer(a2) @ layer(a1))
    assert np.allclose(rollout(np.stack([a1, a2])).sum(axis=1), 1.0)


def _units(text: str, spans: list[tuple[int, int]], ids: list[int] | None = None, truncated: bool = False):
    ids = ids or list(range(100, 100 + len(spans)))
    return TokenUnits.from_encoding(text, Encoding(input_ids=[1] + ids + [2], offsets=[(0, 0)] + spans + [(0, 0)],
                                                   special=[True] + [False] * len(spans) + [True],
                                                   truncated=truncated))


def test_token_units_mask_ids_and_text():
    text = "Review: un believable film\nSentiment:"
    spans = [(0, 6), (6, 7), (8, 10), (11, 21), (22, 26), (26, 27), (27, 36), (36, 37)]
    units = _units(text, spans)
    keep = np.ones(8, dtype=bool)
    assert units.masked_text(keep) == text
    keep[[2, 3]] = False
    assert units.masked_text(keep) == "Review: film\nSentiment:"
    assert units.masked_ids(keep) == (1, 100, 101, 104, 105, 106, 107, 2)
    assert units.masked_ids(keep, Masking.MASK_TOKEN, 3) == (1, 100, 101, 3, 3, 104, 105, 106, 107, 2)
    assert units.tokens[:3] == ["Review", ":", "un"]


def test_restricted_units_leave_the_template_in_place():
    text = "Review: un believable film\nSentiment:"
    spans = [(0, 6), (6, 7), (7, 10), (10, 21), (21, 26), (26, 27), (27, 36), (36, 37)]   # " un", " believable", ...
    units = _units(text, spans).restrict((8, 26))   # the review: "un believable film"
    assert units.tokens == [" un", " believable", " film"] and units.feature_ids == (102, 103, 104)
    assert units.masked_text(np.array([True, False, True])) == "Review: un film\nSentiment:"
    assert units.masked_text(np.array([True, True, False])) == "Review: un believable\nSentiment:"
    assert units.masked_text(np.zeros(3, dtype=bool)) == "Review:\nSentiment:"
    assert units.masked_ids(np.array([False, True, True])) == (1, 100, 101, 103, 104, 105, 106, 107, 2)


def test_truncated_units_cover_the_kept_text():
    units = _units("one two three four", [(0, 3), (4, 7)], truncated=True)
    assert units.covered_text == "one two" and units.masked_text(np.array([True, True])) == "one two"


def test_word_scores_and_alignment():
    units = _units("a gorgeous film", [(0, 1), (2, 6), (6, 10), (11, 15)])
    np.testing.assert_allclose(word_scores(units, np.array([1.0, 2.0, 3.0, 4.0])), [1.0, 5.0, 4.0])
    same = align_by_offsets(units, [(0, 1), (2, 6), (6, 10), (11, 15)], [1, 2, 3, 4], [100, 101, 102, 103])
    np.testing.assert_allclose(same, [1, 2, 3, 4])
    coarse = align_by_offsets(units, [(0, 1), (2, 10), (11, 15)], [1.0, 6.0, 4.0], [7, 8, 9])
    np.testing.assert_allclose(coarse, [1.0, 3.0, 3.0, 4.0])


def test_typo_goes_into_the_least_important_editable_word():
    rng = np.random.default_rng(0)
    text = "Review: a truly dreadful movie\nSentiment:"
    starts = [0, 6, 8, 10, 16, 25, 30, 31]
    ends = [6, 7, 9, 15, 24, 30, 31, 41]
    units = _units(text, list(zip(starts, ends)))
    scores = np.array([0.0, 0.0, 0.0, 0.05, 0.9, 0.3, 0.0, 0.0])   # "Review:" would be least, but it is template
    variant = typo_variant(units, scores, (8, 30), rng)
    assert variant is not None and variant.startswith("Review: a ") and variant.endswith(" dreadful movie\nSentiment:")
    assert variant != text and sorted(variant) == sorted(text)
    assert swap_typo("oops", rng) is None or len(swap_typo("oops", rng)) == 4
    assert typo_variant(units, scores, None, rng) is None


def test_stability_is_one_for_identical_word_rankings():
    a = _units("good film here", [(0, 4), (5, 9), (10, 14)])
    b = _units("good flim here", [(0, 4), (5, 7), (7, 9), (10, 14)])
    assert stability(a, np.array([0.9, 0.1, 0.0]), b, np.array([0.9, 0.05, 0.05, 0.0])) == pytest.approx(1.0)
    assert stability(a, np.array([0.9, 0.1, 0.0]), b, np.array([0.0, 0.05, 0.05, 0.9])) < 0
