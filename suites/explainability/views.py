"""Data-only views of the explainability suite (the renderer draws and escapes them)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from audit.models.adapters.base import AttentionResult
from audit.results import Bar, BarChartView, Metric, MatrixHeatmapView, TableView, TokenHeatmapView, TokenScores
from suites.explainability.subjects import Subject

MAX_HEAD_ROWS = 64
_VISIBLE_SPACE = {"\n": "⏎", "\t": "⇥", " ": "␣"}


def visible(token: str) -> str:
    """A whitespace-only token as a visible symbol (a newline token would otherwise vanish)."""
    return token if token.strip() else "".join(_VISIBLE_SPACE.get(c, "␣") for c in token) or "∅"


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) if np.isfinite(v) else 0.0 for v in values]


def token_heatmap(subject: Subject, scores: dict[str, np.ndarray], f_x: float, unit: str,
                  predicted: str) -> TokenHeatmapView:
    """All methods' token scores for one example, one row each, side by side."""
    tokens = [visible(t) for t in subject.units.tokens]
    rows = [TokenScores(tokens=tokens, scores=_finite(s), label=method) for method, s in scores.items()]
    cut = " The input was longer than the model's limit and was cut; the kept tokens are shown." \
        if subject.units.truncated else ""
    return TokenHeatmapView(
        title=f"Example {subject.id}: why '{subject.target_name}'",
        rows=rows,
        caption=f"Explained output: {'log p' if unit == 'nats' else 'p'}({subject.target_name} | input) = "
                f"{f_x:.3f} ({unit}); the model predicts '{predicted}'. Red tokens raise it, blue lower it; "
                f"attention is unsigned.{cut}")


def attention_views(subject: Subject, result: AttentionResult, rolled: np.ndarray, layer: int, head: int,
                    query: int) -> list[MatrixHeatmapView]:
    """One layer/head's map, the rollout, and every head's attention from the predicting position."""
    maps = result.attentions
    layers, heads = maps.shape[0], maps.shape[1]
    layer_index = layer % layers
    head_index = min(head, heads - 1)
    labels = [visible(t) for t in result.tokens]
    if layers * heads <= MAX_HEAD_ROWS:
        per_head = maps[:, :, query, :].reshape(layers * heads, -1)
        head_labels, rows_are = [f"L{l}.H{h}" for l in range(layers) for h in range(heads)], "one head"
    else:   # too many heads to show one by one: one row per layer, heads averaged
        per_head = maps[:, :, query, :].mean(axis=1)
        head_labels, rows_are = [f"L{l} (mean of {heads} heads)" for l in range(layers)], "one layer"
    return [
        MatrixHeatmapView(title=f"Attention, layer {layer_index} head {head_index} — example {subject.id}",
                          x_labels=labels, y_labels=labels, values=maps[layer_index, head_index].tolist(),
                          caption="Row: the attending token; column: the token attended to."),
        MatrixHeatmapView(title=f"Attention rollout — example {subject.id}", x_labels=labels, y_labels=labels,
                          values=rolled.tolist(),
                          caption="Abnar & Zuidema (2020): heads averaged, residual added, layers multiplied. "
                                  f"The token scores are row {query} ('{labels[query]}')."),
        MatrixHeatmapView(title=f"Attention from '{labels[query]}' per layer and head — example {subject.id}",
                          x_labels=labels, y_labels=head_labels, values=per_head.tolist(),
                          caption=f"Each row is {rows_are}'s attention from the predicting position."),
    ]


def metric_bars(title: str, metrics: list[Metric], caption: str, unit: str | None = None) -> BarChartView:
    return BarChartView(title=title, unit=unit, caption=caption,
                        bars=[Bar(label=m.group["method"] if m.group else m.name, value=m.value, ci_low=m.ci_low,
                                  ci_high=m.ci_high, n=m.n) for m in metrics])


def agreement_matrix(methods: list[str], metrics: dict[tuple[str, str], float]) -> MatrixHeatmapView:
    size = len(methods)
    values = np.eye(size)
    for (a, b), value in metrics.items():
        i, j = methods.index(a), methods.index(b)
        values[i, j] = values[j, i] = value
    return MatrixHeatmapView(title="Agreement between methods (mean Spearman over examples)", x_labels=methods,
                             y_labels=methods, values=values.tolist(),
                             caption="1: the same token ranking; 0: unrelated; negative: opposite.")


def cost_table(rows: list[list[object]]) -> TableView:
    return TableView(title="Cost per explanation",
                     columns=["method", "explanations", "seconds / explanation", "model evaluations / explanation",
                              "inputs asked / explanation"],
                     rows=rows,
                     caption="Model evaluations count distinct inputs the model computed (masked inputs already "
                             "scored for another method or example are free); timings include the machine's load.")


def summary_table(rows: list[list[object]], unit: str, n: int) -> TableView:
    return TableView(title=f"Is the explanation trustworthy? ({n} explained examples)",
                     columns=["method", "comprehensiveness ↑", "sufficiency ↓", "LOO correlation ↑",
                              "stability ↑",
                              "beats chance"],
                     rows=rows,
                     caption=f"Means over the explained examples ({unit}). Faithfulness follows ferret/ERASER: AOPC "
                             "over removing (comprehensiveness) or keeping only (sufficiency) the top 10..100% tokens. "
                             "'beats chance': comprehensiveness above a seeded random ranking's, paired bootstrap "
                             "95% CI above 0.")
