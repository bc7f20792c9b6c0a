"""A result cache whose disk part is a shared backend: a cache service on the driver's node, or a database.

On a cluster, SQLite (and its WAL) must not sit on a network filesystem and cannot be opened by many
nodes, so workers keep only the in-memory LRU and ask a backend for everything else. Backends store
values with `audit.models.adapters.codec` (never pickle), like the local file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from audit.models.adapters.base import CachePolicy, ModelAdapter
from audit.models.adapters.cache import ResultCache
from audit.models.adapters.codec import CacheDecodeError, decode, encode


class CacheBackend(Protocol):
    """Where shared results live: get_many answers what it has, put_many stores new ones."""

    def get_many(self, keys: list[str]) -> dict[str, Any]: ...

    def put_many(self, items: dict[str, Any]) -> None: ...


class SharedResultCache(ResultCache):
    """The ResultCache interface over a CacheBackend (memory LRU in front, same hit accounting)."""

    def __init__(self, backend: CacheBackend, memory_entries: int | None = None) -> None:
        super().__init__(None)
        if memory_entries is not None:
            self.memory_entries = memory_entries
        self.backend = backend

    def get_many(self, keys: Sequence[str], policy: CachePolicy = CachePolicy.PERSIST) -> dict[str, Any]:
        found = super().get_many(keys, policy)          # memory only (path is None); counts those hits
        if not self.enabled or policy == CachePolicy.OFF:
            return found
        wanted = [key for key in dict.fromkeys(keys) if key not in found]
        if wanted:
            remote = self.backend.get_many(wanted)
            for key, value in remote.items():
                self._remember(key, value)
            found.update(remote)
            self.stats.hits += sum(1 for key in keys if key in remote)
        return found

    def put_many(self, items: dict[str, Any], policy: CachePolicy = CachePolicy.PERSIST) -> None:
        super().put_many(items, policy)                 # LRU
        if items and self.enabled and policy == CachePolicy.PERSIST:
            self.backend.put_many(items)


class FileCacheService:
    """Owns the driver's SQLite cache file and answers workers (run as a Ray actor on the driver's node)."""

    def __init__(self, path: str) -> None:
        self.cache = ResultCache(Path(path), memory_entries=1)

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        return self.cache.get_many(keys)

    def put_many(self, items: dict[str, Any]) -> None:
        self.cache.put_many(items)

    def ping(self) -> str:
        return str(self.cache.path)


class SqlCacheBackend:
    """Results in a table of any SQLAlchemy database (e.g. postgresql://... for a team cluster)."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self.sa = sa
        self.engine = sa.create_engine(url, pool_pre_ping=True)
        self.table = sa.Table("rai_audit_results", sa.MetaData(), sa.Column("key", sa.String(64), primary_key=True),
                              sa.Column("value", sa.LargeBinary, nullable=False))
        self.table.metadata.create_all(self.engine)

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                rows = conn.execute(self.sa.select(self.table.c.key, self.table.c.value)
                                    .where(self.table.c.key.in_(keys[start:start + 500])))
                for key, blob in rows:
                    try:
                        found[key] = decode(blob)
                    except CacheDecodeError:
                        continue
        return found

    def put_many(self, items: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            present = set()
            keys = list(items)
            for start in range(0, len(keys), 500):
                present.update(conn.execute(self.sa.select(self.table.c.key)
                                            .where(self.table.c.key.in_(keys[start:start + 500]))).scalars())
            rows = [{"key": k, "value": encode(v)} for k, v in items.items() if k not in present]
            if rows:
                conn.execute(self.table.insert(), rows)


BackendFactory = Callable[[], CacheBackend]
AdapterLoader = Callable[[str, Any, Path, Path | None], ModelAdapter]


@dataclass(frozen=True)
class SharedCacheLoader:
    """An adapter loader (picklable) that swaps each loaded adapter's cache for the shared one."""

    inner: AdapterLoader
    backend: BackendFactory

    def __call__(self, name: str, spec: Any, prepared_dir: Path, cache_dir: Path | None) -> ModelAdapter:
        adapter = self.inner(name, spec, prepared_dir, None)
        set_cache = getattr(adapter, "set_cache", None)
        if callable(set_cache):
            set_cache(SharedResultCache(self.backend()))
        return adapter


@dataclass(frozen=True)
class SqlBackendFactory:
    url: str

    def __call__(self) -> CacheBackend:
        return SqlCacheBackend(self.url)
