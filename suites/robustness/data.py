"""Labelled examples for the classifier parts, validated row by row.

Every problem is a DataError naming the file and the row: a file that is not UTF-8 (with the
line of the first bad byte), an empty or non-text text, an unknown label, a repeated id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audit.data.resolver import DataResolver
from audit.errors import DataError
from suites.robustness.config import DatasetConfig

WHAT = "robustness.data"


@dataclass(frozen=True)
class Examples:
    path: Path
    ids: list[str]
    texts: list[str]
    labels: np.ndarray          # model label indices

    def __len__(self) -> int:
        return len(self.ids)

    def head(self, n: int | None) -> "Examples":
        if n is None or n >= len(self):
            return self
        return Examples(self.path, self.ids[:n], self.texts[:n], self.labels[:n])


def check_utf8(path: Path, what: str) -> None:
    """A DataError naming the line and byte of the first non-UTF-8 byte, if any."""
    import gzip

    raw = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(f"{what}: {path}: line {line}, column {column}: not UTF-8 "
                        f"(byte 0x{raw[exc.start]:02x}); save the file as UTF-8") from None


def label_index(value: object, labels: list[str], label_map: dict[str, str] | None) -> int | None:
    """A model label index for a dataset label (name, case-insensitive name, or index)."""
    if label_map is not None:
        if str(value) not in label_map:
            return None
        value = label_map[str(value)]
    folded = {name.casefold(): i for i, name in enumerate(labels)}
    if str(value).casefold() in folded:
        return folded[str(value).casefold()]
    text = str(value).strip()
    if text.lstrip("-").isdigit() and not isinstance(value, bool):
        index = int(text)
        return index if 0 <= index < len(labels) else None
    return None


def load_examples(data: DataResolver, spec: DatasetConfig, labels: list[str], *, limit: int | None,
                  seed: int) -> Examples:
    """Read and validate the dataset; keep a seeded random subset of `limit` rows (in that order)."""
    path = data.resolve(spec.path, what=f"{WHAT}.path")
    check_utf8(path, WHAT)
    frame = data.read_table(spec.path, what=f"{WHAT}.path")
    data.require_columns(frame, [spec.text_column, spec.label_column], path=str(path), what=WHAT)
    has_ids = spec.id_column in frame.columns
    all_ids = [str(v) for v in frame[spec.id_column]] if has_ids else [str(i + 1) for i in range(len(frame))]
    _check_unique(all_ids, spec.id_column, path)
    texts, label_ids = [], []
    for position, (text, raw_label) in enumerate(zip(frame[spec.text_column], frame[spec.label_column])):
        where = f"{WHAT}: {path}: row {position + 1} (id {all_ids[position]})"
        if not isinstance(text, str):
            raise DataError(f"{where}: column {spec.text_column!r} is not text ({text!r})")
        if not text.strip():
            raise DataError(f"{where}: column {spec.text_column!r} is empty")
        label = label_index(raw_label, labels, spec.label_map)
        if label is None:
            raise DataError(f"{where}: label {raw_label!r} is not one of the model's labels {labels} "
                            "(or an index); set robustness.data.label_map")
        texts.append(text)
        label_ids.append(label)
    order = np.random.default_rng(seed).permutation(len(frame))[:limit]
    return Examples(path, [all_ids[i] for i in order], [texts[i] for i in order],
                    np.asarray([label_ids[i] for i in order], dtype=np.int64))


def _check_unique(ids: list[str], column: str, path: Path) -> None:
    seen: set[str] = set()
    for row, example_id in enumerate(ids, start=1):
        if example_id in seen:
            raise DataError(f"{WHAT}: {path}: row {row}: id {example_id!r} in column {column!r} is repeated")
        seen.add(example_id)
