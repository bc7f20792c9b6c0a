"""Score one labelled dataset with the classifier: one batched classify call, then pure metrics."""

from __future__ import annotations

import numpy as np

from audit.errors import DataError
from audit.results import UNIT_PROPORTION, Group, Metric, Outcomes, SuiteResult
from audit.run.suite import Context
from suites.accuracy import metrics as M
from suites.accuracy import views
from audit.data.labelled import LabelledData

ACCURACY = "accuracy.accuracy"
MACRO_F1 = "accuracy.macro_f1"
ECE = "accuracy.ece"
RECALL = "accuracy.recall"


DATASET_KEY = "dataset"
LABEL_KEY = "label"


def dataset_group(name: str) -> Group:
    return {DATASET_KEY: name}


def label_group(label: str, dataset: str | None = None) -> Group:
    return {LABEL_KEY: label} if dataset is None else {**dataset_group(dataset), LABEL_KEY: label}


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

    # name -> (estimate, higher_is_better, unit)
    estimates = {
        ACCURACY: (M.accuracy(y_true, y_pred), True, UNIT_PROPORTION),
        MACRO_F1: (M.macro_f1(y_true, y_pred, seed=seed(MACRO_F1)), True, None),
        ECE: (M.expected_calibration_error(confidence, correct, n_bins=ece_bins, seed=seed(ECE)), False, None),
    }
    recall = M.per_label_recall(y_true, y_pred, len(labels))
    groups: list[Group | None] = ([None] if headline else []) + [dataset_group(data.name)]
    for group in groups:
        for name, (estimate, higher, unit) in estimates.items():
            result.metrics.append(Metric.from_estimate(name, estimate, group=group, higher_is_better=higher,
                                                       unit=unit))
        result.outcomes.append(Outcomes(metric=ACCURACY, group=group, example_ids=data.ids,
                                        values=correct.tolist()))
    for dataset in ([None] if headline else []) + [data.name]:
        for index, estimate in recall.items():
            result.metrics.append(Metric.from_estimate(RECALL, estimate, group=label_group(labels[index], dataset),
                                                       higher_is_better=True, unit=UNIT_PROPORTION))

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
