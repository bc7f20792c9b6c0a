"""Result cache: a bounded in-memory LRU over an SQLite table on disk.

Keys are sha256 digests of (scope, capability, canonical request). The scope (see `CacheScope`)
holds everything that can change a number: the model's content fingerprint, dtype, max length,
the attention implementation, the device type, the torch / transformers / rai-audit versions and
the adapter-semantics version. Values are stored with `audit.models.adapters.codec` (JSON + numeric
arrays), never pickled, because the cache folder is user-configurable and a planted file must
not run code. Each call chooses a `CachePolicy`: persist (LRU + disk), memory (LRU only, for
one-off strings of explainers and attacks) or off.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from audit.models.adapters.base import CachePolicy
from audit.models.adapters.codec import CacheDecodeError, decode, encode

log = logging.getLogger("audit.cache")

CACHE_FILE_NAME = "adapter_cache.sqlite"
CACHE_FORMAT_VERSION = "2"          # 2: codec instead of pickle
DEFAULT_MEMORY_ENTRIES = 100_000    # the LRU keeps at most this many results in memory
_SCHEMA = "CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value BLOB NOT NULL)"
_SQLITE_VARS = 500  # stay well under SQLite's host-parameter limit per statement


@dataclass(frozen=True)
class CacheScope:
    """Everything besides the request that decides a result; any change misses the cache."""

    fingerprint: str             # weights + tokenizer + config (+ remote code) content hash
    dtype: str
    max_length: int
    attn_implementation: str
    device_type: str
    torch_version: str
    transformers_version: str
    package_version: str
    semantics_version: str       # bump when adapter code changes a number (BOS, spacing, head-only)
    hardware: str = ""           # CPU instruction set, GPU model and compute capability (kernels differ)

    @property
    def text(self) -> str:
        return "|".join(f"{k}={v}" for k, v in asdict(self).items())


@dataclass
class CacheStats:
    """Counts since the adapter was created: requests answered from the cache (`hits`), distinct
    requests computed by the model (`misses`), and repeats within one call (`duplicates`)."""

    hits: int = 0
    misses: int = 0
    duplicates: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "duplicates": self.duplicates}

    def snapshot(self) -> tuple[int, int, int]:
        return self.hits, self.misses, self.duplicates

    def since(self, before: tuple[int, int, int]) -> tuple[int, int, int]:
        return self.hits - before[0], self.misses - before[1], self.duplicates - before[2]


def cache_key(scope: str, capability: str, canonical_request: str) -> str:
    """The stored key: a digest, so long requests (token id lists) stay small in the index."""
    payload = "\x1f".join((CACHE_FORMAT_VERSION, scope, capability, canonical_request))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class ResultCache:
    """get_many / put_many over one SQLite table behind a bounded LRU; `path=None` = memory only.

    `enabled=False` stores nothing and finds nothing (benchmarks, equality tests).
    """

    path: Path | None
    enabled: bool = True
    memory_entries: int = DEFAULT_MEMORY_ENTRIES
    stats: CacheStats = field(default_factory=CacheStats)
    _memory: "OrderedDict[str, Any]" = field(default_factory=OrderedDict, repr=False)
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

    def __len__(self) -> int:
        return len(self._memory)

    def _remember(self, key: str, value: Any) -> None:
        self._memory[key] = value
        self._memory.move_to_end(key)
        while len(self._memory) > self.memory_entries:
            self._memory.popitem(last=False)

    def get_many(self, keys: Sequence[str], policy: CachePolicy = CachePolicy.PERSIST) -> dict[str, Any]:
        """Values found for `keys` (memory first, then disk in batched queries); counts hits."""
        found: dict[str, Any] = {}
        if not self.enabled or policy == CachePolicy.OFF:
            return found
        wanted: list[str] = []
        for key in dict.fromkeys(keys):
            if key in self._memory:
                self._memory.move_to_end(key)
                found[key] = self._memory[key]
            else:
                wanted.append(key)
        if wanted and self._conn is not None:
            for part in _chunks(wanted, _SQLITE_VARS):
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(f"SELECT key, value FROM results WHERE key IN ({marks})", part)
                for key, blob in rows:
                    try:
                        value = decode(blob)
                    except CacheDecodeError as exc:
                        log.warning("ignoring cache entry %s in %s: %s", key[:12], self.path, exc)
                        continue
                    self._remember(key, value)
                    found[key] = value
        self.stats.hits += sum(1 for key in keys if key in found)
        return found

    def put_many(self, items: dict[str, Any], policy: CachePolicy = CachePolicy.PERSIST) -> None:
        """Store results in the LRU and (policy persist) in one disk transaction."""
        if not items or not self.enabled or policy == CachePolicy.OFF:
            return
        for key, value in items.items():
            self._remember(key, value)
        if self._conn is not None and policy == CachePolicy.PERSIST:
            rows = [(key, encode(value)) for key, value in items.items()]
            with self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO results (key, value) VALUES (?, ?)", rows)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
