"""The fixed train/validation/test split of the rt-polarity sentences.

Why a fixed split: the sentiment model is trained on `train` and every audit measures it on
`test`; the shuffle is seeded and the file hashes are recorded so a third party gets the same
rows. Row ids (`rt-<n>`) are the sentence's position in the source files read in order
`rt-polarity.pos` then `rt-polarity.neg`, so an id always points back to its source line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from audit.data.resolver import builtin_path, sha256_file
from audit.errors import DataError

SPLIT_NAME = "rt_polarity"
SPLIT_SEED = 0
HELD_OUT = 1066  # rows each for test and validation (10 % of 10,662)
SPLITS = ("test", "validation", "train")  # the order in which the permutation is cut
POSITIVE, NEGATIVE = "positive", "negative"
SOURCE_FILES = (("rt-polarity.pos", POSITIVE), ("rt-polarity.neg", NEGATIVE))
SPLIT_INFO_NAME = "split.json"
SOURCE_DIR = builtin_path("rt_polarity")


@dataclass(frozen=True)
class Sentence:
    id: str
    text: str
    label: str

    def as_row(self) -> dict[str, str]:
        return {"id": self.id, "text": self.text, "label": self.label}


def _decode(path: Path, log: Callable[[str], None]) -> tuple[str, str]:
    """UTF-8, falling back to latin-1 (the original release's encoding) with a warning."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        log(f"[prepare] warning: {path}: line {line} is not UTF-8; reading the file as latin-1")
        return data.decode("latin-1"), "latin-1"


def read_polarity(source_dir: Path = SOURCE_DIR, log: Callable[[str], None] = print
                  ) -> tuple[list[Sentence], dict[str, Any]]:
    """All sentences (positive file first) and per-file facts (encoding, lines, sha256)."""
    sentences: list[Sentence] = []
    sources: dict[str, Any] = {}
    for file_name, label in SOURCE_FILES:
        path = Path(source_dir) / file_name
        if not path.is_file():
            raise DataError(f"{path}: rt-polarity source file not found")
        text, encoding = _decode(path, log)
        lines = text.splitlines()
        for line_no, line in enumerate(lines, start=1):
            if not line.strip():
                raise DataError(f"{path}: line {line_no} is empty; every line must be one sentence")
            sentences.append(Sentence(id=f"rt-{len(sentences)}", text=line.strip(), label=label))
        sources[file_name] = {"sha256": sha256_file(path), "lines": len(lines), "encoding": encoding}
    return sentences, sources


def split_sentences(sentences: list[Sentence], *, seed: int = SPLIT_SEED,
                    held_out: int = HELD_OUT) -> dict[str, list[Sentence]]:
    """Shuffle with `default_rng(seed).permutation`; first `held_out` = test, next = validation,
    the rest = train."""
    if len(sentences) <= 2 * held_out:
        raise DataError(f"rt-polarity: {len(sentences)} sentences is too few for two held-out "
                        f"sets of {held_out}")
    order = np.random.default_rng(seed).permutation(len(sentences))
    cuts = {"test": order[:held_out], "validation": order[held_out:2 * held_out],
            "train": order[2 * held_out:]}
    return {name: [sentences[i] for i in cuts[name]] for name in SPLITS}


def _counts(rows: list[Sentence]) -> dict[str, int]:
    return {"rows": len(rows), POSITIVE: sum(r.label == POSITIVE for r in rows),
            NEGATIVE: sum(r.label == NEGATIVE for r in rows)}


def write_jsonl(path: Path, rows: list[Sentence]) -> None:
    lines = (json.dumps(row.as_row(), ensure_ascii=False) for row in rows)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def build_split(out_dir: Path, *, source_dir: Path = SOURCE_DIR, seed: int = SPLIT_SEED,
                held_out: int = HELD_OUT, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write {train,validation,test}.jsonl and split.json (seed, counts, sha256 per file)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sentences, sources = read_polarity(source_dir, log)
    parts = split_sentences(sentences, seed=seed, held_out=held_out)
    info: dict[str, Any] = {"seed": seed, "held_out": held_out, "method": "numpy default_rng(seed)"
                            ".permutation; first held_out = test, next held_out = validation, "
                            "rest = train", "sources": sources, "files": {}}
    for name in SPLITS:
        path = out_dir / f"{name}.jsonl"
        write_jsonl(path, parts[name])
        info["files"][path.name] = {"sha256": sha256_file(path), **_counts(parts[name])}
    (out_dir / SPLIT_INFO_NAME).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    log(f"[prepare] {SPLIT_NAME}: " + ", ".join(
        f"{name} {len(parts[name])}" for name in SPLITS))
    return info


def split_hashes(split_dir: Path) -> dict[str, str]:
    """sha256 per split file from split.json (what a model trained on the split records)."""
    path = Path(split_dir) / SPLIT_INFO_NAME
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return {name: entry["sha256"] for name, entry in info["files"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: cannot read the split's file hashes ({exc})") from None
