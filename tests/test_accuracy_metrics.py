"""Accuracy-suite metrics against hand-computed values and sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.metrics import confusion_matrix as sk_confusion
from statsmodels.stats.proportion import proportion_confint

from suites.accuracy import metrics as M

Y_TRUE = np.array([0, 0, 1, 1, 2, 2, 2, 0])
Y_PRED = np.array([0, 1, 1, 1, 2, 0, 2, 0])


def test_accuracy_value_and_wilson_ci():
    est = M.accuracy(Y_TRUE, Y_PRED)
    assert est.value == pytest.approx(6 / 8)
    assert est.n == 8
    assert est.value == pytest.approx(accuracy_score(Y_TRUE, Y_PRED))
    low, high = proportion_confint(6, 8, alpha=0.05, method="wilson")
    assert (est.ci_low, est.ci_high) == (pytest.approx(low), pytest.approx(high)) and est.ci_method == "wilson"


def test_recall_of_a_perfect_small_label_keeps_an_honest_interval():
    # label 1 is always right (2 of 2): a percentile bootstrap would say [1, 1]
    recall = M.per_label_recall(Y_TRUE, Y_PRED, 3)
    assert recall[1].value == 1.0 and recall[1].ci_high == 1.0
    assert recall[1].ci_low == pytest.approx(proportion_confint(2, 2, method="wilson")[0]) and recall[1].ci_low < 0.5


def test_macro_f1_by_hand_and_sklearn():
    # label 0: tp=2 fp=1 fn=1 -> P=2/3 R=2/3 F1=2/3
    # label 1: tp=2 fp=1 fn=0 -> P=2/3 R=1   F1=0.8
    # label 2: tp=2 fp=0 fn=1 -> P=1   R=2/3 F1=0.8
    hand = (2 / 3 + 0.8 + 0.8) / 3
    est = M.macro_f1(Y_TRUE, Y_PRED, seed=0)
    assert est.value == pytest.approx(hand)
    assert est.value == pytest.approx(f1_score(Y_TRUE, Y_PRED, average="macro"))
    assert est.ci_low <= est.value <= est.ci_high and est.n == 8


def test_macro_f1_matches_sklearn_on_random_data_with_missing_labels():
    rng = np.random.default_rng(3)
    t = rng.integers(0, 4, 200)
    p = rng.integers(1, 5, 200)  # label 0 never predicted, label 4 never true
    ours = M.macro_f1_value(t, p, np.unique(np.concatenate([t, p])))
    assert ours == pytest.approx(f1_score(t, p, average="macro", zero_division=0))


def test_per_class_and_confusion_match_sklearn():
    pc = M.per_class(Y_TRUE, Y_PRED, 3)
    p, r, f, s = precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=[0, 1, 2], zero_division=0)
    np.testing.assert_allclose(pc.precision, p)
    np.testing.assert_allclose(pc.recall, r)
    np.testing.assert_allclose(pc.f1, f)
    np.testing.assert_array_equal(pc.support, s)
    np.testing.assert_array_equal(M.confusion_matrix(Y_TRUE, Y_PRED, 3), sk_confusion(Y_TRUE, Y_PRED))


def test_ece_hand_worked_example():
    # 5 bins of width 0.2.
    # bin (0.2,0.4]: conf 0.3 (wrong)                  -> |0 - 0.3| * 1
    # bin (0.6,0.8]: conf 0.7 (right), 0.8 (wrong)     -> |0.5 - 0.75| * 2
    # bin (0.8,1.0]: conf 0.9, 0.9, 1.0 (right,right,wrong) -> |2/3 - 2.8/3| * 3
    conf = np.array([0.3, 0.7, 0.8, 0.9, 0.9, 1.0])
    correct = np.array([0, 1, 0, 1, 1, 0])
    hand = (0.3 * 1 + 0.25 * 2 + (0.8 / 3) * 3) / 6
    assert M.ece_value(conf, correct, n_bins=5) == pytest.approx(hand)
    est = M.expected_calibration_error(conf, correct, n_bins=5, seed=0)
    assert est.value == pytest.approx(hand) and est.n == 6
    assert est.ci_low <= est.ci_high


def test_ece_bin_edges_are_right_closed():
    # 0.4 belongs to (0.2, 0.4], not (0.4, 0.6]: with 0.4 right and 0.5 wrong in separate bins
    # ECE = (|1-0.4| + |0-0.5|)/2 = 0.55; lumped into one bin it would be |0.5-0.45| = 0.05.
    assert M.ece_value(np.array([0.4, 0.5]), np.array([1, 0]), n_bins=5) == pytest.approx(0.55)
    # a perfectly calibrated, perfectly confident model has ECE 0
    assert M.ece_value(np.ones(4), np.ones(4)) == 0.0


def test_reliability_bins():
    conf = np.array([0.3, 0.7, 0.8, 0.9, 0.9, 1.0])
    correct = np.array([0, 1, 0, 1, 1, 0])
    bins = M.reliability_bins(conf, correct, n_bins=5)
    np.testing.assert_array_equal(bins.count, [0, 1, 0, 2, 3])
    np.testing.assert_allclose(bins.accuracy[[1, 3, 4]], [0.0, 0.5, 2 / 3])
    np.testing.assert_allclose(bins.confidence[[1, 3, 4]], [0.3, 0.75, 2.8 / 3])
    assert np.isnan(bins.accuracy[0]) and np.isnan(bins.confidence[2])
    np.testing.assert_allclose(bins.upper, [0.2, 0.4, 0.6, 0.8, 1.0])


def test_per_label_recall_and_outcomes():
    recall = M.per_label_recall(Y_TRUE, Y_PRED, n_labels=4)
    assert set(recall) == {0, 1, 2}  # label 3 has no examples
    assert recall[0].value == pytest.approx(2 / 3) and recall[0].n == 3
    assert recall[1].value == pytest.approx(1.0) and recall[1].n == 2
    np.testing.assert_array_equal(M.correct_outcomes(Y_TRUE, Y_PRED), [1, 0, 1, 1, 1, 0, 1, 1])
    with pytest.raises(ValueError):
        M.correct_outcomes([0, 1], [0])
