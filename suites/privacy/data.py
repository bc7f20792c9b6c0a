"""Texts (and labels) for the privacy parts, validated row by row, with seeded subsets.

Every problem is a DataError or ConfigError naming the config key, the file and the row. Sets that
must be disjoint (members and non-members; a training pool and the examples it must not see) are
checked by id and by text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audit.data.resolver import DataResolver
from audit.errors import ConfigError, DataError
from audit.data.ids import example_ids
from audit.data.labelled import LabelResolver
from suites.privacy.config import TableRef


@dataclass(frozen=True)
class Texts:
    """Rows of one table (or of several, concatenated): ids are `file:id` so they stay unique."""

    ids: list[str]
    texts: list[str]
    labels: np.ndarray | None      # model label indices; None for text-only sets
    source: str                    # a readable description: files and n

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: np.ndarray | list[int]) -> "Texts":
        index = list(index)
        labels = None if self.labels is None else self.labels[index]
        return Texts([self.ids[i] for i in index], [self.texts[i] for i in index], labels, self.source)

    def without(self, other: "Texts") -> "Texts":
        """The rows whose id and text are not in `other`."""
        ids, texts = set(other.ids), set(other.texts)
        keep = [i for i in range(len(self)) if self.ids[i] not in ids and self.texts[i] not in texts]
        return self.take(keep)

    @staticmethod
    def concat(parts: list["Texts"]) -> "Texts":
        labels = None if any(p.labels is None for p in parts) else np.concatenate([p.labels for p in parts])
        return Texts([i for p in parts for i in p.ids], [t for p in parts for t in p.texts], labels,
                     " + ".join(p.source for p in parts))


def load_texts(data: DataResolver, ref: TableRef, *, key: str, labels: list[str] | None, seed: int,
               limit: int | None = None, exclude: Texts | None = None) -> Texts:
    """Read `ref` (labels mapped onto `labels` when given), drop rows in `exclude`, keep a seeded subset."""
    path = data.resolve(ref.path, what=key)
    frame = data.read_table(ref.path, what=key)
    wanted = [ref.text_column] + ([ref.label_column] if labels is not None and ref.label_column else [])
    if labels is not None and not ref.label_column:
        raise ConfigError(f"{key}.label_column: this part needs labels (the model is a classifier)")
    data.require_columns(frame, wanted, path=str(path), what=key)
    ids = [f"{Path(path).stem}:{i}" for i in example_ids(frame, ref.id_column, path, key)]
    texts, label_ids = [], []
    resolve = LabelResolver(labels, ref.label_map) if labels is not None else None
    for row_no, text in enumerate(frame[ref.text_column]):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{key}: {path}: row {row_no + 1}: column {ref.text_column!r} is not a non-empty text")
        texts.append(text)
        if resolve is not None:
            value = frame[ref.label_column].iloc[row_no]
            index = resolve(value)
            if index is None:
                raise DataError(f"{key}: {path}: row {row_no + 1}: label {value!r} is not one of the model's "
                                f"labels {labels}; use label_map")
            label_ids.append(index)
    rows = Texts(ids, texts, np.asarray(label_ids, dtype=np.int64) if resolve is not None else None, str(path.name))
    if exclude is not None:
        rows = rows.without(exclude)
    limit = ref.limit if limit is None else limit
    if limit is not None and limit < len(rows):
        rows = rows.take(np.sort(np.random.default_rng(seed).choice(len(rows), size=limit, replace=False)))
    if not len(rows):
        raise DataError(f"{key}: {path}: no rows left")
    return Texts(rows.ids, rows.texts, rows.labels, f"{path.name}, n={len(rows)}")


def check_disjoint(first: Texts, second: Texts, *, key: str) -> None:
    """A ConfigError naming `key` when the two sets share an id or a text."""
    shared_text = set(first.texts) & set(second.texts)
    shared_ids = set(first.ids) & set(second.ids)
    if shared_ids or shared_text:
        example = sorted(shared_ids)[0] if shared_ids else repr(sorted(shared_text)[0][:60])
        count = max(len(shared_ids), len(shared_text))
        raise ConfigError(f"{key}: {count} example(s) are both members and non-members (e.g. {example}); "
                          "the two sets must not overlap")
