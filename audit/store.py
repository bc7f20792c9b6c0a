"""Run history in SQLite: every run's summary and where its results.json lives; tags mark baselines."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from audit.errors import DataError
from audit.results import AuditRun

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started_at TEXT, finished_at TEXT, status TEXT,
    config_path TEXT, config_sha256 TEXT, results_path TEXT);
CREATE TABLE IF NOT EXISTS tags (tag TEXT PRIMARY KEY, run_id TEXT REFERENCES runs(run_id));
"""


@dataclass(frozen=True)
class RunRow:
    run_id: str
    started_at: str
    finished_at: str | None
    status: str
    config_path: str | None
    results_path: str
    tags: tuple[str, ...]


class RunStore:
    """A small SQLite file (default: next to the run folders) that indexes past runs."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def record(self, run: AuditRun, results_path: Path) -> None:
        p = run.provenance
        with closing(self._connect()) as db, db:
            db.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?)",
                       (run.run_id, p.started_at, p.finished_at, run.status.value, p.config_path,
                        p.config_sha256, str(Path(results_path).resolve())))

    def tag(self, run_id: str, tag: str) -> None:
        with closing(self._connect()) as db, db:
            if not db.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone():
                raise DataError(f"{self.path}: no run with id {run_id!r}")
            db.execute("INSERT OR REPLACE INTO tags VALUES (?,?)", (tag, run_id))

    def runs(self, limit: int = 50) -> list[RunRow]:
        with closing(self._connect()) as db:
            rows = db.execute("SELECT run_id, started_at, finished_at, status, config_path, results_path "
                              "FROM runs ORDER BY started_at DESC LIMIT ?", (limit,)).fetchall()
            tags: dict[str, list[str]] = {}
            for tag, run_id in db.execute("SELECT tag, run_id FROM tags"):
                tags.setdefault(run_id, []).append(tag)
        return [RunRow(*row, tags=tuple(sorted(tags.get(row[0], [])))) for row in rows]

    def resolve(self, ref: str) -> Path:
        """A results.json path from a path, a run id or a tag."""
        if Path(ref).exists():
            path = Path(ref)
            return path / "results.json" if path.is_dir() else path
        with closing(self._connect()) as db:
            row = db.execute("SELECT results_path FROM runs WHERE run_id=? OR run_id="
                             "(SELECT run_id FROM tags WHERE tag=?)", (ref, ref)).fetchone()
        if not row:
            raise DataError(f"{ref!r} is neither a results file nor a run id or tag in {self.path}")
        return Path(row[0])
