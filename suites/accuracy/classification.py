"""Score one labelled dataset with the classifier: one batched classify call, then pure metrics."""

from __future__ import annotations

import numpy as np

from audit.errors import DataError
from audit.results import Metric, Outcomes, SuiteResult
from audit.suite import Context
from suites.accuracy import metrics as M
from suites.accuracy import views
from suites.accuracy.labelled import LabelledData

ACCURACY = "accuracy.accuracy"
MACRO_F1 = "accuracy.macro_f1"
ECE = "accuracy.ece"
RECALL = "accuracy.recall"


def dataset_group(name: str) -> str:
    return f"dataset={name}"


def label_group(label: str, dataset: str | None = None) -> str:
    return f"label={label}" if dataset is None else f"{dataset_group(dataset)},label={label}"


def score_dataset(ctx: Context, data: LabelledData, *, headline: bool, ece_bins: int, result: SuiteResult) -> None:
    """Classify every text in one adapter call; append metrics, outcomes, views and examples."""
    labels = list(ctx.adapter.labels)
    if not data.texts:
        raise DataError(f"accuracy.datasets[{data.name}]: {data.path}: no rows to score")
    probs = np.asarray(ctx.adapter.classify(data.texts), dtype=float)
    if probs.shape != (len(data.texts), len(labels)):
        raise RuntimeError(f"adapter.classify returned shape {probs.shape}, expected {(len(data.texts), len(labels))}")
    y_true, y_pred = data.labels, probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    correct = M.correct_outcomes(y_true, y_pred)

    def seed(*keys: object) -> int:
        return ctx.sub_seed("accuracy", data.name, *keys)

    estimates = {
        ACCURACY: (M.accuracy(y_true, y_pred, seed=seed(ACCURACY)), True),
        MACRO_F1: (M.macro_f1(y_true, y_pred, seed=seed(MACRO_F1)), True),
        ECE: (M.expected_calibration_error(confidence, correct, n_bins=ece_bins, seed=seed(ECE)), False),
    }
    recall = M.per_label_recall(y_true, y_pred, len(labels), seed=seed(RECALL))
    groups = ([None] if headline else []) + [dataset_group(data.name)]
    for group in groups:
        for name, (estimate, higher) in estimates.items():
            result.metrics.append(Metric.from_estimate(name, estimate, group=group, higher_is_better=higher))
        result.outcomes.append(Outcomes(metric=ACCURACY, group=group, example_ids=data.ids,
                                        values=correct.tolist()))
    for dataset in ([None] if headline else []) + [data.name]:
        for index, estimate in recall.items():
            result.metrics.append(Metric.from_estimate(RECALL, estimate, group=label_group(labels[index], dataset),
                                                       higher_is_better=True))

    counts = M.confusion_matrix(y_true, y_pred, len(labels))
    per_class = M.per_class(y_true, y_pred, len(labels))
    result.views += [views.reliability_diagram(data.name, M.reliability_bins(confidence, correct, ece_bins),
                                               estimates[ECE][0].value),
                     views.confusion_heatmap(data.name, counts, labels),
                     views.recall_bars(data.name, recall, labels)]
    result.examples += views.confident_mistakes(data.name, data.ids, data.texts, y_true, y_pred, confidence, labels)
    result.details.setdefault("datasets", {})[data.name] = {
        "path": str(data.path), "n": int(len(correct)), "labels": labels,
        "confusion_matrix": counts.tolist(),
        "per_class": {labels[i]: {"precision": float(per_class.precision[i]), "recall": float(per_class.recall[i]),
                                  "f1": float(per_class.f1[i]), "support": int(per_class.support[i])}
                      for i in range(len(labels))},
    }
