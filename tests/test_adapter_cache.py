"""Result cache (SQLite + memory) and the generic batching: OOM halving, ordering, budgets."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import torch

from audit.models.adapters.base import LoglikelihoodResult
from audit.models.adapters.batching import BatchPolicy, length_order, pad_batch, run_batched
from audit.models.adapters.cache import CACHE_FILE_NAME, ResultCache, cache_key
from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec
from tests.tiny_models import build_tiny_classifier

TEXTS = ["a good movie", "a bad movie that goes on and on", "fine", "not my kind of film at all"]


# ---------------------------------------------------------------- ResultCache

def test_roundtrip_across_instances(tmp_path):
    values = {cache_key("fp", "classify", f'"{i}"'): np.arange(i + 1, dtype=np.float32) for i in range(3)}
    values["ll"] = LoglikelihoodResult(logprob=-1.5, is_greedy=True, n_tokens=2)
    first = ResultCache.in_dir(tmp_path)
    first.put_many(values)
    first.close()
    second = ResultCache.in_dir(tmp_path)
    found = second.get_many(list(values) + ["absent"])
    assert set(found) == set(values)
    for key, value in values.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(found[key], value)
            assert found[key].dtype == np.float32
        else:
            assert found[key] == value
    assert second.stats.hits == 4   # misses are counted by the adapter, which computes them
    rows = sqlite3.connect(tmp_path / CACHE_FILE_NAME).execute("SELECT COUNT(*) FROM results").fetchone()
    assert rows == (4,)


def test_memory_only_and_off(tmp_path):
    memory = ResultCache.in_dir(None)
    memory.put_many({"k": 1})
    assert memory.get_many(["k"]) == {"k": 1} and not list(tmp_path.iterdir())
    off = ResultCache.off()
    off.put_many({"k": 1})
    assert off.get_many(["k"]) == {} and off.stats.hits == 0


def test_key_separates_scope_capability_and_request():
    base = cache_key("fp1", "classify", '"x"')
    assert base == cache_key("fp1", "classify", '"x"')
    assert len({base, cache_key("fp2", "classify", '"x"'), cache_key("fp1", "embed", '"x"'),
                cache_key("fp1", "classify", '"y"')}) == 4


# ---------------------------------------------------------------- cache through the adapter

def _load(folder, cache_dir):
    return load_adapter("clf", ModelSpec(path=str(folder)), prepared_dir=folder.parent, cache_dir=cache_dir)


def test_second_adapter_hits_disk_cache_without_forward_passes(tiny_classifier_dir, tmp_path):
    first = _load(tiny_classifier_dir, tmp_path / "cache")
    probs = first.classify(TEXTS)
    vectors = first.embed(TEXTS)
    assert first.cache_stats.as_dict() == {"hits": 0, "misses": 8, "duplicates": 0} and first.forward_passes > 0

    second = _load(tiny_classifier_dir, tmp_path / "cache")
    assert second.fingerprint == first.fingerprint
    calls = []
    hook = second.model.register_forward_hook(lambda *_: calls.append(1))
    base_hook = second.model.base_model.register_forward_hook(lambda *_: calls.append(1))
    try:
        again = second.classify(TEXTS[::-1])
        vectors_again = second.embed(TEXTS)
    finally:
        hook.remove()
        base_hook.remove()
    assert not calls and second.forward_passes == 0
    assert second.cache_stats.as_dict() == {"hits": 8, "misses": 0, "duplicates": 0}
    np.testing.assert_array_equal(again, probs[::-1])
    np.testing.assert_array_equal(vectors_again, vectors)


def test_partial_hits_compute_only_the_missing(tiny_classifier_dir, tmp_path):
    adapter = _load(tiny_classifier_dir, None)
    adapter.classify(TEXTS[:2])
    rows = []
    hook = adapter.model.register_forward_hook(lambda m, a, k, o: rows.append(k["input_ids"].shape[0]),
                                               with_kwargs=True)
    try:
        out = adapter.classify(TEXTS + TEXTS[2:3])  # two cached, two new (one of them twice)
    finally:
        hook.remove()
    assert sum(rows) == 2
    np.testing.assert_array_equal(out[2], out[4])
    stats = adapter.cache_stats
    assert (stats.hits, stats.misses, stats.duplicates) == (2, 2 + 2, 1)   # the repeat is computed once


def test_different_model_never_shares_cache(tiny_classifier_dir, tmp_path):
    other_dir = build_tiny_classifier(tmp_path / "other", seed=1)
    _load(tiny_classifier_dir, tmp_path / "cache").classify(TEXTS)
    other = _load(other_dir, tmp_path / "cache")
    out = other.classify(TEXTS)
    assert other.cache_stats.hits == 0 and other.forward_passes > 0
    fresh = _load(other_dir, None)
    np.testing.assert_allclose(out, fresh.classify(TEXTS), atol=1e-6)


# ---------------------------------------------------------------- batching

def test_oom_halves_batch_and_keeps_order():
    sizes: list[int] = []

    def compute(batch: list[int]) -> list[int]:
        sizes.append(len(batch))
        if len(batch) > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [x * 10 for x in batch]

    items = list(range(20))
    lengths = [5 + (i * 7) % 11 for i in items]
    out = run_batched(items, lengths, compute, BatchPolicy(batch_size=16, token_budget=0))
    assert out == [x * 10 for x in items]
    assert sizes[:3] == [16, 8, 4]
    assert all(s <= 4 for s in sizes[3:])      # the halved size is kept for the rest of the call
    assert sum(s for s in sizes if s <= 4) == 20


def test_oom_on_single_item_reraises():
    def compute(batch):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory.")

    with pytest.raises(torch.cuda.OutOfMemoryError):
        run_batched([1, 2], [3, 3], compute, BatchPolicy(batch_size=2, token_budget=0))


def test_other_errors_are_not_retried():
    calls = []

    def compute(batch):
        calls.append(len(batch))
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        run_batched([1, 2, 3, 4], [1, 1, 1, 1], compute, BatchPolicy(batch_size=4, token_budget=0))
    assert calls == [4]


def test_token_budget_and_length_sorting():
    seen: list[list[int]] = []

    def compute(batch):
        seen.append(list(batch))
        return batch

    lengths = [10, 50, 20, 50, 10, 30]
    out = run_batched(list(range(6)), lengths, compute, BatchPolicy(batch_size=None, token_budget=100))
    assert out == list(range(6))
    assert seen[0] == [1, 3]                   # longest first: 100 // 50 = 2 items
    for batch in seen:
        assert len(batch) * max(lengths[i] for i in batch) <= 100
    assert length_order(lengths) == [1, 3, 5, 2, 0, 4]
    assert BatchPolicy(batch_size=None, token_budget=100).size_for(1000) == 1


def test_pad_batch_right_pads():
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
