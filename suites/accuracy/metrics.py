"""Pure classification metrics (the fairlearn habit): arrays in, numbers or Estimates out.

Labels are integer indices 0..n_labels-1. Every headline number comes back as an
`Estimate` with n and a CI, so a report never shows a bare point estimate: proportions
(accuracy, recall) get Wilson intervals, other statistics (macro-F1, ECE) a seeded percentile
bootstrap. Nothing here touches a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.results import Estimate
from audit.stats import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, bootstrap_estimate, wilson_proportion

DEFAULT_ECE_BINS = 15


def _as_int(values: np.ndarray | list[int]) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def correct_outcomes(y_true: np.ndarray | list[int], y_pred: np.ndarray | list[int]) -> np.ndarray:
    """Per-example 1.0 (right) / 0.0 (wrong): the paired unit for run-to-run comparisons."""
    t, p = _as_int(y_true), _as_int(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}")
    return (t == p).astype(float)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> np.ndarray:
    """counts[i, j] = examples with true label i predicted as j."""
    t, p = _as_int(y_true), _as_int(y_pred)
    return np.bincount(t * n_labels + p, minlength=n_labels * n_labels).reshape(n_labels, n_labels)


@dataclass(frozen=True)
class PerClass:
    """Precision / recall / F1 / support per label index (0 where undefined, as sklearn's zero_division=0)."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray


def per_class(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> PerClass:
    counts = confusion_matrix(y_true, y_pred, n_labels)
    tp = np.diag(counts).astype(float)
    predicted = counts.sum(axis=0).astype(float)
    support = counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
    return PerClass(precision, recall, f1, support)


def macro_f1_value(y_true: np.ndarray, y_pred: np.ndarray, labels: np.ndarray) -> float:
    """Unweighted mean F1 over `labels` (F1 = 0 for a label never predicted nor present)."""
    n_labels = int(max(labels.max(initial=0), _as_int(y_true).max(initial=0), _as_int(y_pred).max(initial=0))) + 1
    return float(per_class(y_true, y_pred, n_labels).f1[labels].mean())


def ece_value(confidences: np.ndarray, correct: np.ndarray, n_bins: int = DEFAULT_ECE_BINS) -> float:
    """Expected calibration error (Guo et al. 2017): sum_b |acc_b - conf_b| * n_b / n.

    Equal-width bins over [0, 1]; bin b holds confidences in (b/B, (b+1)/B] (0 goes to the first).
    """
    counts, conf_sums, acc_sums = _bin_sums(confidences, correct, n_bins)
    n = counts.sum()
    return float(np.abs(acc_sums - conf_sums).sum() / n) if n else float("nan")


def _bin_sums(confidences: np.ndarray, correct: np.ndarray, n_bins: int) -> tuple[np.ndarray, ...]:
    conf = np.asarray(confidences, dtype=float)
    corr = np.asarray(correct, dtype=float)
    if conf.shape != corr.shape:
        raise ValueError(f"{conf.size} confidences but {corr.size} outcomes")
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    index = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    conf_sums = np.bincount(index, weights=conf, minlength=n_bins)
    acc_sums = np.bincount(index, weights=corr, minlength=n_bins)
    return counts, conf_sums, acc_sums


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin mean confidence, accuracy and count: the data of a reliability diagram."""

    lower: np.ndarray
    upper: np.ndarray
    confidence: np.ndarray  # NaN for empty bins
    accuracy: np.ndarray    # NaN for empty bins
    count: np.ndarray


def reliability_bins(confidences: np.ndarray, correct: np.ndarray, n_bins: int = DEFAULT_ECE_BINS) -> ReliabilityBins:
    counts, conf_sums, acc_sums = _bin_sums(confidences, correct, n_bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        conf = np.where(counts > 0, conf_sums / counts, np.nan)
        acc = np.where(counts > 0, acc_sums / counts, np.nan)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return ReliabilityBins(edges[:-1], edges[1:], conf, acc, counts)


# ---------------------------------------------------------------- estimates with CIs


def accuracy(y_true: np.ndarray, y_pred: np.ndarray, *, confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """Share of exact matches (a proportion), with its Wilson interval."""
    return wilson_proportion(correct_outcomes(y_true, y_pred), confidence)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, *, labels: np.ndarray | list[int] | None = None,
             seed: int = 0, resamples: int = DEFAULT_RESAMPLES) -> Estimate:
    """Macro-F1 with a bootstrap CI.

    `labels` defaults to sklearn's choice: every label seen in y_true or y_pred of the full
    sample; the same label set is used in every resample so the CI measures one quantity.
    """
    t, p = _as_int(y_true), _as_int(y_pred)
    if t.shape != p.shape or t.size == 0:
        raise ValueError("macro_f1 needs two non-empty arrays of the same length")
    used = np.unique(np.concatenate([t, p])) if labels is None else _as_int(labels)
    return bootstrap_estimate(lambda idx: macro_f1_value(t[idx], p[idx], used), t.size,
                              seed=seed, resamples=resamples)


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray, *, n_bins: int = DEFAULT_ECE_BINS,
                               seed: int = 0, resamples: int = DEFAULT_RESAMPLES) -> Estimate:
    """ECE of top-label confidences (see `ece_value`), with a bootstrap CI."""
    conf = np.asarray(confidences, dtype=float)
    corr = np.asarray(correct, dtype=float)
    if conf.size == 0:
        raise ValueError("expected_calibration_error needs at least one example")
    return bootstrap_estimate(lambda idx: ece_value(conf[idx], corr[idx], n_bins), conf.size,
                              seed=seed, resamples=resamples)


def per_label_recall(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int, *,
                     confidence: float = DEFAULT_CONFIDENCE) -> dict[int, Estimate]:
    """Recall of each label present in y_true (accuracy among its examples), with its Wilson interval."""
    t = _as_int(y_true)
    correct = correct_outcomes(t, y_pred)
    return {label: wilson_proportion(correct[t == label], confidence)
            for label in range(n_labels) if np.any(t == label)}
