"""Per-example outcomes of the bias metrics that are means over words or cells (for paired comparisons)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from audit.results import Outcomes


def word_outcomes(metric: str, words: Sequence[str], labels: Sequence[str], values: np.ndarray,
                  per_cell: dict[str, list[tuple[str, float]]], *, label_key: str, cell_key: str) -> list[Outcomes]:
    """Outcomes of a per-word mean: overall and by label (one value per word, e.g. averaged over templates),
    and per cell × word (e.g. template × attribute word) for each cell's breakdown. NaN values (a word with
    no scored target) stay in; the paired comparison drops them."""
    labels_arr = np.asarray(labels)
    values = np.asarray(values, float)
    out = [Outcomes(metric=metric, example_ids=list(words), values=values.tolist())]
    for label in dict.fromkeys(labels_arr.tolist()):
        mask = labels_arr == label
        out.append(Outcomes(metric=metric, group={label_key: label},
                            example_ids=[w for w, m in zip(words, mask) if m], values=values[mask].tolist()))
    for cell, pairs in per_cell.items():
        out.append(Outcomes(metric=metric, group={cell_key: cell}, example_ids=[w for w, _ in pairs],
                            values=[float(v) for _, v in pairs]))
    return out
