"""Labelled examples for the classifier parts, validated row by row.

Every problem is a DataError naming the file and the row: a file that is not UTF-8 (with the
line of the first bad byte), an empty or non-text text, an unknown label, a repeated id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audit.data.resolver import DataResolver
from audit.data.labelled import read_labelled
from audit.errors import DataError
from suites.robustness.config import DatasetConfig

WHAT = "robustness.data"


@dataclass(frozen=True)
class Examples:
    path: Path
    ids: list[str]
    texts: list[str]
    labels: np.ndarray          # model label indices
    dropped: int = 0            # rows dropped for a blank cell (on_blank: drop)

    def __len__(self) -> int:
        return len(self.ids)

    def head(self, n: int | None) -> "Examples":
        if n is None or n >= len(self):
            return self
        return Examples(self.path, self.ids[:n], self.texts[:n], self.labels[:n], self.dropped)


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


def load_examples(data: DataResolver, spec: DatasetConfig, labels: list[str], *, limit: int | None,
                  seed: int) -> Examples:
    """Read and validate the dataset (audit.data.labelled's contract); keep a seeded random subset of
    `limit` rows (in that order)."""
    path = data.resolve(spec.path, what=f"{WHAT}.path")
    check_utf8(path, WHAT)
    table = read_labelled(data, spec.path, spec, what=WHAT, model_labels=labels)
    assert table.labels is not None
    order = np.random.default_rng(seed).permutation(len(table))[:limit]
    return Examples(path, [table.ids[i] for i in order], [table.texts[i] for i in order], table.labels[order],
                    dropped=table.dropped)
