"""The cluster result caches: a SQLAlchemy table and the file service, behind the ResultCache interface."""

from __future__ import annotations

import numpy as np

from audit.models.adapters.base import CachePolicy
from audit.models.adapters.shared_cache import (FileCacheService, SharedCacheLoader, SharedResultCache,
                                                SqlBackendFactory, SqlCacheBackend)


def test_sql_backend_round_trip_and_hit_counts(tmp_path):
    url = f"sqlite:///{tmp_path / 'cache.sqlite'}"
    first = SharedResultCache(SqlCacheBackend(url))
    first.put_many({"a": np.arange(3, dtype=np.float32), "b": {"x": 1}})
    first.put_many({"a": np.arange(3, dtype=np.float32)})            # a repeat insert is harmless
    first.put_many({"m": 1.0}, CachePolicy.MEMORY)                    # memory-only never reaches the table
    other = SharedResultCache(SqlCacheBackend(url))                   # another node, same database
    found = other.get_many(["a", "b", "m", "missing"])
    assert set(found) == {"a", "b"} and found["b"] == {"x": 1}
    assert np.array_equal(found["a"], np.arange(3, dtype=np.float32))
    assert other.stats.hits == 2
    assert other.get_many(["a"], CachePolicy.OFF) == {}


def test_file_service_backend_and_loader_swap(tmp_path):
    service = FileCacheService(str(tmp_path / "adapter_cache.sqlite"))
    cache = SharedResultCache(service)
    cache.put_many({"k": [1, 2]})
    assert SharedResultCache(FileCacheService(str(tmp_path / "adapter_cache.sqlite"))).get_many(["k"]) == {"k": [1, 2]}

    class Adapter:
        cache = None

        def set_cache(self, cache):
            self.cache = cache

    loader = SharedCacheLoader(lambda *args: Adapter(), SqlBackendFactory(f"sqlite:///{tmp_path / 's.sqlite'}"))
    adapter = loader("m", None, tmp_path, tmp_path)
    assert isinstance(adapter.cache, SharedResultCache)
