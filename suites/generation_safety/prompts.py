"""Prompt sets of the suite: bundled JSONL files (or a user's), checked row by row and hashed."""

from __future__ import annotations

from types import MappingProxyType

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.data.resolver import DataResolver, read_jsonl
from audit.errors import DataError
from suites.generation_safety.config import BUILTIN

DATA = Path(__file__).parent / "data"
BUNDLED = MappingProxyType({"toxicity": "toxicity_prompts.jsonl", "refusal": "refusal_pairs.jsonl",
           "injection": "injection_tasks.jsonl", "elicitation": "pii_elicitation.jsonl"})


@dataclass(frozen=True)
class PromptSet:
    rows: list[dict[str, Any]]
    path: str

    @property
    def sha256(self) -> str:
        """Of the rows as used (canonical JSON), so a reordered or edited file changes the hash."""
        blob = json.dumps(self.rows, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def load_prompts(data: DataResolver, ref: str, bundled: str, columns: list[str], *, key: str) -> PromptSet:
    """Rows of `ref` ('builtin' = the bundled file); each needs `columns` as non-empty strings and a unique id."""
    path = DATA / BUNDLED[bundled] if ref == BUILTIN else data.resolve(ref, what=key)
    rows = read_jsonl(path)
    if not rows:
        raise DataError(f"{key}: {path}: the prompt file is empty")
    seen: set[str] = set()
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise DataError(f"{key}: {path}: row {n} is not a JSON object")
        for column in ["id", *columns]:
            value = row.get(column)
            if column == "keywords":
                if not isinstance(value, list) or not value:
                    raise DataError(f"{key}: {path}: row {n}: '{column}' must be a non-empty list")
            elif not isinstance(value, str) or not value.strip():
                raise DataError(f"{key}: {path}: row {n}: '{column}' is missing or empty")
        if row["id"] in seen:
            raise DataError(f"{key}: {path}: row {n}: id {row['id']!r} appears twice")
        seen.add(row["id"])
    data.record(path, rows=len(rows))
    return PromptSet(rows=rows, path=str(path))
