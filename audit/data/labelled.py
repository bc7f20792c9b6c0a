"""One data contract for every suite that reads a labelled table: the same keys, the same refusals.

Keys (`LabelledFields`): `text_column`, `label_column`, `id_column`, `label_map`, `group_columns`,
`on_blank`. A blank text, label or group cell is refused (or, with `on_blank: drop`, the row is
dropped and the count reported); a repeated or blank id is refused; a label must be a model label
name (exact, else case-insensitive), or a key of `label_map`. Integer labels are read as class
indices only when the model's labels carry no names (`LABEL_0`, `LABEL_1`, ...): a 0/1 column
against a model with named labels needs `label_map`, so the mapping is never guessed. Every
problem is a DataError whose first line names the config key, the file, the row and the column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from audit.data.resolver import DataResolver
from audit.errors import DataError

ON_BLANK_ERROR = "error"
ON_BLANK_DROP = "drop"
MAX_PROBLEMS = 10                     # rows listed in one DataError (the count says how many more)
GENERIC_LABEL_RE = re.compile(r"^LABEL_(\d+)$")


class LabelledFields(BaseModel):
    """The keys every labelled dataset entry shares (suites add `path`, `limit`, ...)."""

    model_config = ConfigDict(extra="forbid")

    text_column: str = "text"
    label_column: str | None = Field("label", description="gold labels; null for a text-only table")
    id_column: str = Field("id", description="example ids for paired comparisons; row number if absent")
    label_map: dict[str, str] | None = Field(None, description="dataset label -> model label name")
    group_columns: list[str] = Field(default_factory=list, description="columns kept as groups (no blanks)")
    on_blank: Literal["error", "drop"] = Field(
        ON_BLANK_ERROR, description="a blank text/label/group cell: refuse the file, or drop the row (counted)")


@dataclass(frozen=True)
class LabelledTable:
    """The validated rows of one table, in file order."""

    path: Path
    ids: list[str]
    texts: list[str]
    raw_labels: list[object] | None
    labels: np.ndarray | None          # model label indices (when model labels were given)
    groups: pd.DataFrame | None        # the group columns as stripped strings
    rows: list[int]                    # 1-based row numbers in the file
    dropped: int                       # rows dropped for a blank cell (on_blank: drop)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class LabelledData:
    """A dataset as the accuracy suite scores it."""

    name: str
    path: Path
    ids: list[str]
    texts: list[str]
    labels: np.ndarray  # model label indices
    dropped: int = 0


def has_named_labels(model_labels: list[str]) -> bool:
    """False for transformers' placeholder names LABEL_0, LABEL_1, ... (then indices are the names)."""
    return not all(GENERIC_LABEL_RE.match(name) for name in model_labels)


class LabelResolver:
    """Turns one dataset label into a model label index (or None when it cannot)."""

    def __init__(self, model_labels: list[str], label_map: dict[str, str] | None) -> None:
        self.model_labels = model_labels
        self.label_map = label_map
        self._exact = {name: i for i, name in enumerate(model_labels)}
        self._folded = {name.casefold(): i for i, name in enumerate(model_labels)}
        self.indices_allowed = label_map is not None or not has_named_labels(model_labels)

    def __call__(self, value: object) -> int | None:
        if self.label_map is not None:
            key = _text(value)
            if key not in self.label_map:
                return None
            value = self.label_map[key]
        text = str(value)
        if text in self._exact:
            return self._exact[text]
        if text.casefold() in self._folded:
            return self._folded[text.casefold()]
        index = as_index(value)
        if index is None or not self.indices_allowed:
            return None
        return index if 0 <= index < len(self.model_labels) else None

    def hint(self, value: object) -> str:
        if self.label_map is not None:
            return f"label_map keys are {sorted(self.label_map)}"
        if as_index(value) is not None and not self.indices_allowed:
            example = {str(i): name for i, name in enumerate(self.model_labels)}
            return (f"it looks like a class index, but the model's labels are named {self.model_labels}: "
                    f"set label_map (e.g. {example}) so the mapping is not guessed")
        return f"model labels are {self.model_labels}; use label_map"


def _text(value: object) -> str:
    """The label_map key for a cell: YAML keys are text, a JSON 1.0 cell is '1'."""
    index = as_index(value)
    return str(index) if index is not None and not isinstance(value, str) else str(value)


def as_index(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def plain(value: object) -> object:
    """A numpy scalar as the Python value (so messages show 1, not np.int64(1))."""
    return value.item() if isinstance(value, np.generic) else value


def is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def read_labelled(data: DataResolver, ref: str, fields: LabelledFields, *, what: str,
                  model_labels: list[str] | None = None) -> LabelledTable:
    """Read and validate one table under the contract; all row problems are reported together."""
    path = data.resolve(ref, what=f"{what}.path")
    frame = data.read_table(ref, what=f"{what}.path")
    columns = [fields.text_column] + ([fields.label_column] if fields.label_column else []) + fields.group_columns
    data.require_columns(frame, columns, path=str(path), what=what)
    ids = example_ids(frame, fields.id_column, path, what)
    resolve = LabelResolver(model_labels, fields.label_map) if model_labels and fields.label_column else None
    problems: list[str] = []
    keep, labels = [], []
    cells = {c: [plain(v) for v in frame[c].tolist()] for c in columns}
    for position in range(len(frame)):
        row = {c: cells[c][position] for c in columns}
        where = f"{what}: {path}: row {position + 1} (id {ids[position]})"
        blank = [c for c in columns if is_blank(row[c])]
        if blank:
            if fields.on_blank == ON_BLANK_DROP:
                continue
            problems.append(f"{where}: column {blank[0]!r} is blank; fill it, or set {what}.on_blank: drop")
            continue
        text = row[fields.text_column]
        if not isinstance(text, str):
            problems.append(f"{where}: column {fields.text_column!r} is not text ({text!r})")
            continue
        if resolve is not None:
            index = resolve(row[fields.label_column])
            if index is None:
                value = row[fields.label_column]
                problems.append(f"{where}: label {value!r} in column {fields.label_column!r} is unknown; "
                                f"{resolve.hint(value)}")
                continue
            labels.append(index)
        keep.append(position)
    if problems:
        more = f"\n... and {len(problems) - MAX_PROBLEMS} more row(s)" if len(problems) > MAX_PROBLEMS else ""
        raise DataError("\n".join(problems[:MAX_PROBLEMS]) + more)
    if not keep:
        raise DataError(f"{what}: {path}: no rows left after dropping blank cells")
    kept = frame.iloc[keep]
    groups = (kept[fields.group_columns].astype(str).apply(lambda col: col.str.strip()).reset_index(drop=True)
              if fields.group_columns else None)
    return LabelledTable(path=path, ids=[ids[i] for i in keep], texts=[str(t) for t in kept[fields.text_column]],
                         raw_labels=list(kept[fields.label_column]) if fields.label_column else None,
                         labels=np.asarray(labels, dtype=np.int64) if resolve is not None else None,
                         groups=groups, rows=[i + 1 for i in keep], dropped=len(frame) - len(keep))


def example_ids(frame: pd.DataFrame, id_column: str, path: Path, what: str) -> list[str]:
    """The id column as text (the row number when the column is absent); repeats and blanks refused."""
    if id_column not in frame.columns:
        return [str(i) for i in range(len(frame))]
    ids = [str(v) for v in frame[id_column]]
    seen: set[str] = set()
    for row_no, (example_id, raw) in enumerate(zip(ids, frame[id_column]), start=1):
        if is_blank(raw):
            raise DataError(f"{what}: {path}: row {row_no}: column {id_column!r} (the id) is blank")
        if example_id in seen:
            raise DataError(f"{what}: {path}: row {row_no}: id {example_id!r} in column {id_column!r} "
                            "is repeated (ids must be unique)")
        seen.add(example_id)
    return ids


def seeded_subset(n_rows: int, limit: int | None, seed: int) -> np.ndarray:
    """Row positions of a seeded random subset of `limit` rows (in file order); all rows without a limit."""
    if limit is None or limit >= n_rows:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=limit, replace=False))


def load_labelled(data: DataResolver, spec: "LabelledFields", model_labels: list[str], seed: int,
                  *, what: str) -> LabelledData:
    """Read, validate, subset (seeded) and label-map one accuracy dataset (`spec` has name, path, limit)."""
    table = read_labelled(data, spec.path, spec, what=what, model_labels=model_labels)  # type: ignore[attr-defined]
    keep = seeded_subset(len(table), spec.limit, seed)  # type: ignore[attr-defined]
    assert table.labels is not None
    return LabelledData(spec.name, table.path, [table.ids[i] for i in keep],  # type: ignore[attr-defined]
                        [table.texts[i] for i in keep], table.labels[keep], dropped=table.dropped)


DATA_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".gz", ".txt", ".dev", ".test")
REF_PREFIXES = ("builtin:", "prepared:")


def check_tables(config: BaseModel, data: DataResolver, *, where: str,
                 model_labels: list[str] | None) -> list[str]:
    """Every labelled table (a LabelledFields block with a `path`) read under the contract, and every
    other file reference resolved, anywhere in a suite's validated config: the preflight's generic
    input check. Labels are mapped onto `model_labels` when given (a classifier)."""
    problems: list[str] = []
    for key, value in _walk(config, where):
        try:
            if isinstance(value, LabelledFields) and isinstance(getattr(value, "path", None), str):
                fields = value if model_labels else value.model_copy(update={"label_column": None})
                read_labelled(data, value.path, fields, what=key,  # type: ignore[attr-defined]
                              model_labels=model_labels)
            elif isinstance(value, str) and _looks_like_file(value):
                data.resolve(value, what=key)
        except DataError as exc:
            problems.append(str(exc))
    return problems


def _looks_like_file(value: str) -> bool:
    return "{" not in value and (value.startswith(REF_PREFIXES) or value.endswith(DATA_SUFFIXES))


def _walk(value: object, key: str):
    """(key path, value) of every pydantic model, list item, mapping value and leaf below `value`."""
    if isinstance(value, BaseModel) and getattr(value, "enabled", True) is False:
        return                                    # a part switched off reads no file
    yield key, value
    if isinstance(value, LabelledFields):
        return
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name), f"{key}.{name}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(item, f"{key}[{i}]")
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _walk(item, f"{key}.{name}")
