"""Data-only views of the accuracy suite (renderers decide how they look)."""

from __future__ import annotations

import numpy as np

from audit.results import (UNIT_PROPORTION, Bar, BarChartView, Estimate, Example, LineChartView, MatrixHeatmapView,
                           Series)
from suites.accuracy.metrics import ReliabilityBins

CONFIDENT_MISTAKES = 10


def reliability_diagram(dataset: str, bins: ReliabilityBins, ece: float) -> LineChartView:
    """Accuracy against mean confidence per non-empty bin, with the diagonal of perfect calibration."""
    filled = bins.count > 0
    return LineChartView(
        title=f"Reliability diagram — {dataset}",
        series=[Series(name="model", x=bins.confidence[filled].tolist(), y=bins.accuracy[filled].tolist()),
                Series(name="perfect calibration", x=[0.0, 1.0], y=[0.0, 1.0])],
        x_label="confidence (top-label probability)", y_label="accuracy",
        caption=f"{len(bins.count)} equal-width bins; ECE = {ece:.3f} (Guo et al. 2017). "
                "Points below the diagonal are over-confident.")


def confusion_heatmap(dataset: str, counts: np.ndarray, labels: list[str]) -> MatrixHeatmapView:
    return MatrixHeatmapView(
        title=f"Confusion matrix — {dataset}", x_labels=[f"pred {label}" for label in labels],
        y_labels=[f"true {label}" for label in labels], values=counts.astype(float).tolist(),
        caption="Rows: true label; columns: predicted label; cells: example counts.")


def recall_bars(dataset: str, recall: dict[int, Estimate], labels: list[str]) -> BarChartView:
    return BarChartView(
        title=f"Recall per label — {dataset}",
        bars=[Bar(label=labels[i], value=e.value, ci_low=e.ci_low, ci_high=e.ci_high, n=e.n)
              for i, e in sorted(recall.items())],
        unit=UNIT_PROPORTION,
        caption="Share of each true label's examples classified correctly, with 95% Wilson intervals.")


def task_bars(title: str, estimates: dict[str, Estimate]) -> BarChartView:
    return BarChartView(
        title=title, bars=[Bar(label=name, value=e.value, ci_low=e.ci_low, ci_high=e.ci_high, n=e.n)
                           for name, e in estimates.items()],
        unit=UNIT_PROPORTION,
        caption="lm-eval accuracy per task (log-likelihood of each choice), 95% Wilson intervals.")


def confident_mistakes(dataset: str, ids: list[str], texts: list[str], y_true: np.ndarray, y_pred: np.ndarray,
                       confidence: np.ndarray, labels: list[str], top: int = CONFIDENT_MISTAKES) -> list[Example]:
    """The `top` wrong predictions the model was most sure of."""
    wrong = np.flatnonzero(y_true != y_pred)
    order = wrong[np.argsort(-confidence[wrong], kind="stable")][:top]
    return [Example(id=f"{dataset}/{ids[i]}", text=texts[i],
                    fields={"dataset": dataset, "true": labels[y_true[i]], "predicted": labels[y_pred[i]],
                            "confidence": round(float(confidence[i]), 4)},
                    tags=["confident_mistake", f"dataset={dataset}"])
            for i in order]
