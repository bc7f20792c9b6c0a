"""Finding, reading and fingerprinting datasets named in a config.

References: `builtin:NAME/FILE` (files bundled in audit/data/files), `prepared:PATH`
(the prepare step's cache folder), an absolute path, or a path relative to the config file.
`builtin:` and `prepared:` references stay inside their folders (no `..`, no absolute path, no
symlink out): a config that names them cannot read other files through them.
Every file read is hashed into the run's provenance.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from audit.errors import DataError
from audit.results import DatasetProvenance

BUILTIN_DIR = Path(__file__).resolve().parent / "files"
BUILTIN_PREFIX = "builtin:"
PREPARED_PREFIX = "prepared:"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def confined_path(root: Path, relative: str, *, what: str, prefix: str) -> Path:
    """`root / relative`, refused (DataError naming `what`) when it would leave `root`."""
    base = root.resolve()
    path = (base / relative).resolve()
    if Path(relative).is_absolute() or not path.is_relative_to(base):
        raise DataError(f"{what}: {prefix}{relative} points outside {base}; {prefix} references must stay "
                        f"inside that folder (no '..', no absolute path)")
    return path


def builtin_path(relative: str, *, what: str = "dataset") -> Path:
    return confined_path(BUILTIN_DIR, relative, what=what, prefix=BUILTIN_PREFIX)


def read_text(path: Path) -> str:
    """Read a UTF-8 text file, transparently un-gzipping `.gz` files."""
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return handle.read()
    return path.read_text(encoding="utf-8")


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    for line_no, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {line_no} is not valid JSON ({exc.msg})") from None
    return rows


@dataclass
class DataResolver:
    """Resolves dataset references and records what was read (for provenance)."""

    config_dir: Path
    prepared_dir: Path
    seen: dict[str, DatasetProvenance] = field(default_factory=dict)

    def resolve(self, ref: str | Path, *, what: str = "dataset") -> Path:
        """Turn a reference into an existing path; `what` names the config key in errors."""
        text = str(ref)
        if text.startswith(BUILTIN_PREFIX):
            path = builtin_path(text[len(BUILTIN_PREFIX):], what=what)
        elif text.startswith(PREPARED_PREFIX):
            path = confined_path(self.prepared_dir, text[len(PREPARED_PREFIX):], what=what, prefix=PREPARED_PREFIX)
        else:
            path = Path(text).expanduser()
            if not path.is_absolute():
                path = self.config_dir / path
        if not path.exists():
            hint = " (run `python run_audit.py prepare` first)" if text.startswith(PREPARED_PREFIX) else ""
            raise DataError(f"{what}: file not found: {path}{hint}")
        return path

    def record(self, path: Path, rows: int | None = None) -> None:
        key = str(path)
        if key not in self.seen:
            self.seen[key] = DatasetProvenance(path=key, sha256=sha256_file(path), rows=rows)
        elif rows is not None and self.seen[key].rows is None:
            self.seen[key].rows = rows

    def read_table(self, ref: str | Path, *, what: str = "dataset") -> pd.DataFrame:
        """Read CSV / TSV / JSONL / JSON (optionally .gz) into a DataFrame; empty is an error."""
        path = self.resolve(ref, what=what)
        name = path.name[:-3] if path.name.endswith(".gz") else path.name
        try:
            if name.endswith(".jsonl"):
                frame = pd.DataFrame(read_jsonl(path))
            elif name.endswith(".json"):
                frame = pd.DataFrame(json.loads(read_text(path)))
            elif name.endswith(".tsv"):
                frame = pd.read_csv(io.StringIO(read_text(path)), sep="\t", keep_default_na=False)
            elif name.endswith(".csv"):
                frame = pd.read_csv(io.StringIO(read_text(path)), keep_default_na=False)
            else:
                raise DataError(f"{what}: {path}: unsupported format (use .csv, .tsv, .jsonl or .json)")
        except (ValueError, pd.errors.ParserError) as exc:
            raise DataError(f"{what}: {path}: cannot parse ({exc})") from None
        if frame.empty:
            raise DataError(f"{what}: {path}: the dataset is empty")
        self.record(path, rows=len(frame))
        return frame

    def require_columns(self, frame: pd.DataFrame, columns: list[str], *, path: str, what: str) -> None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(
                f"{what}: {path}: column(s) {', '.join(map(repr, missing))} not found; "
                f"columns are {', '.join(map(str, frame.columns))}"
            )
