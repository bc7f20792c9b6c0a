"""Result cache: SQLite on disk (one table) plus an in-memory layer.

Keys are sha256 digests of (scope, capability, canonical request), where `scope` is the
adapter's model fingerprint plus everything else that changes outputs (dtype, max length,
cache format version), so results never leak across models or settings. Values are pickled
by this package only (the cache is our own file, never downloaded).
"""

from __future__ import annotations

import hashlib
import pickle
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

CACHE_FILE_NAME = "adapter_cache.sqlite"
CACHE_FORMAT_VERSION = "1"
_SCHEMA = "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value BLOB NOT NULL)"
_SQLITE_VARS = 500  # stay well under SQLite's host-parameter limit per statement


@dataclass
class CacheStats:
    """Hit and miss counts since the adapter was created (for tests and run logs)."""

    hits: int = 0
    misses: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses}


def cache_key(scope: str, capability: str, canonical_request: str) -> str:
    """The stored key: a digest, so long requests (token id lists) stay small in the index."""
    payload = "\x1f".join((CACHE_FORMAT_VERSION, scope, capability, canonical_request))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class ResultCache:
    """get_many / put_many over one SQLite table; `path=None` keeps results in memory only.

    `enabled=False` stores nothing and finds nothing (benchmarks, equality tests).
    """

    path: Path | None
    enabled: bool = True
    stats: CacheStats = field(default_factory=CacheStats)
    _memory: dict[str, Any] = field(default_factory=dict, repr=False)
    _conn: sqlite3.Connection | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.path is not None and self.enabled:
            self.path = Path(self.path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), timeout=60, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(_SCHEMA)
            self._conn.commit()

    @classmethod
    def in_dir(cls, cache_dir: Path | None) -> "ResultCache":
        return cls(None if cache_dir is None else Path(cache_dir) / CACHE_FILE_NAME)

    @classmethod
    def off(cls) -> "ResultCache":
        return cls(None, enabled=False)

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """Values found for `keys` (memory first, then disk in batched queries); counts hits/misses."""
        found: dict[str, Any] = {}
        if not self.enabled:
            self.stats.misses += len(keys)
            return found
        wanted: list[str] = []
        for key in dict.fromkeys(keys):
            if key in self._memory:
                found[key] = self._memory[key]
            else:
                wanted.append(key)
        if wanted and self._conn is not None:
            for part in _chunks(wanted, _SQLITE_VARS):
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(f"SELECT key, value FROM results WHERE key IN ({marks})", part)
                for key, blob in rows:
                    value = pickle.loads(blob)
                    self._memory[key] = value
                    found[key] = value
        self.stats.hits += sum(1 for key in keys if key in found)
        self.stats.misses += sum(1 for key in keys if key not in found)
        return found

    def put_many(self, items: dict[str, Any]) -> None:
        """Store results in memory and, in one transaction, on disk."""
        if not items or not self.enabled:
            return
        self._memory.update(items)
        if self._conn is not None:
            rows = [(key, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)) for key, value in items.items()]
            with self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO results (key, value) VALUES (?, ?)", rows)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
