"""Example ids: the rule every suite uses, so paired comparisons line up across runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from audit.errors import DataError


def example_ids(frame: pd.DataFrame, id_column: str, path: Path, what: str) -> list[str]:
    """The ids in `id_column` (unique, else a DataError naming the row), or the row numbers when it is absent."""
    if id_column not in frame.columns:
        return [str(i) for i in range(len(frame))]
    ids = [str(v) for v in frame[id_column]]
    seen: set[str] = set()
    for row_no, example_id in enumerate(ids, start=1):
        if example_id in seen:
            raise DataError(f"{what}: {path}: row {row_no}: id {example_id!r} in column {id_column!r} "
                            "is repeated (ids must be unique)")
        seen.add(example_id)
    return ids
