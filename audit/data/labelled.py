"""Read a labelled dataset and map its labels onto the model's label indices.

Dataset labels may be model label names (exact, else case-insensitive), integer label
indices, or anything `label_map` maps to a model label name. Every problem is a DataError
naming the file and the row or column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from audit.data.resolver import DataResolver
from audit.errors import DataError
from audit.data.ids import example_ids


class LabelledDataset(BaseModel):
    """A local labelled table (the config block every suite that reads labelled data shares)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    path: str = Field(description="builtin:..., prepared:..., absolute, or relative to the config file")
    text_column: str = "text"
    label_column: str = "label"
    id_column: str = Field("id", description="example ids for paired comparisons; row index if absent")
    label_map: dict[str, str] | None = Field(None, description="dataset label -> model label name")
    limit: int | None = Field(None, gt=0, description="score a seeded random subset of this many rows")
    seed: int | None = Field(None, description="subset seed; default: derived from the run seed")


@dataclass(frozen=True)
class LabelledData:
    name: str
    path: Path
    ids: list[str]
    texts: list[str]
    labels: np.ndarray  # model label indices


class LabelResolver:
    """Turns one dataset label into a model label index (or None when it cannot)."""

    def __init__(self, model_labels: list[str], label_map: dict[str, str] | None) -> None:
        self.model_labels = model_labels
        self.label_map = label_map
        self._exact = {name: i for i, name in enumerate(model_labels)}
        self._folded = {name.casefold(): i for i, name in enumerate(model_labels)}

    def __call__(self, value: object) -> int | None:
        if self.label_map is not None:
            key = str(value)
            if key not in self.label_map:
                return None
            value = self.label_map[key]
        text = str(value)
        if text in self._exact:
            return self._exact[text]
        if text.casefold() in self._folded:
            return self._folded[text.casefold()]
        index = _as_index(value)
        return index if index is not None and 0 <= index < len(self.model_labels) else None


def _as_index(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def load_labelled(data: DataResolver, spec: LabelledDataset, model_labels: list[str], seed: int) -> LabelledData:
    """Read, validate, subset (seeded) and label-map one dataset from the config."""
    what = f"accuracy.datasets[{spec.name}]"
    path = data.resolve(spec.path, what=what)
    frame = data.read_table(spec.path, what=what)
    data.require_columns(frame, [spec.text_column, spec.label_column], path=str(path), what=what)
    ids = example_ids(frame, spec.id_column, path, what)
    if spec.limit is not None and spec.limit < len(frame):
        keep = np.sort(np.random.default_rng(seed).choice(len(frame), size=spec.limit, replace=False))
        frame, ids = frame.iloc[keep], [ids[i] for i in keep]
    resolve = LabelResolver(model_labels, spec.label_map)
    texts, labels = [], []
    for row_no, (text, label) in enumerate(zip(frame[spec.text_column], frame[spec.label_column])):
        row = f"{what}: {path}: row {frame.index[row_no] + 1} (id {ids[row_no]})"
        if not isinstance(text, str):
            raise DataError(f"{row}: column {spec.text_column!r} is not text ({text!r})")
        index = resolve(label)
        if index is None:
            hint = f"label_map keys are {sorted(spec.label_map)}" if spec.label_map is not None else \
                f"model labels are {model_labels} (or indices 0..{len(model_labels) - 1}); use label_map"
            raise DataError(f"{row}: label {label!r} in column {spec.label_column!r} is unknown; {hint}")
        texts.append(text)
        labels.append(index)
    return LabelledData(spec.name, path, ids, texts, np.asarray(labels, dtype=np.int64))
