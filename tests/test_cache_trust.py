"""A result cache that can be trusted and shared: full scope, no pickle, bounded memory, policies, OOM cap."""

from __future__ import annotations

import dataclasses
import pickle
import sqlite3
import sys

import numpy as np
import pytest
import torch

import audit.models.adapters.runtime as runtime
from audit.models.adapters import batching
from audit.models.adapters.base import CachePolicy
from audit.models.adapters.batching import BatchPolicy, OomCap, run_batched
from audit.models.adapters.cache import CACHE_FILE_NAME, CacheScope, ResultCache, cache_key
from audit.models.adapters.codec import CacheDecodeError, decode, encode
from audit.models.adapters.loading import model_fingerprint
from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec

TEXTS = ["a good movie", "a bad movie that goes on and on", "fine"]


def _load(folder, cache_dir, **spec):
    return load_adapter("clf", ModelSpec(path=str(folder), **spec), prepared_dir=folder.parent, cache_dir=cache_dir)


# ---------------------------------------------------------------- scope: every part misses the cache

SCOPE = CacheScope(fingerprint="fp", dtype="float32", max_length=512, attn_implementation="sdpa", device_type="cpu",
                   torch_version="2.13.0", transformers_version="5.23.0", package_version="0.1.0",
                   semantics_version="2")


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(CacheScope)])
def test_changing_any_scope_field_changes_every_key(field):
    value = getattr(SCOPE, field)
    changed = dataclasses.replace(SCOPE, **{field: value + 1 if isinstance(value, int) else value + "x"})
    assert cache_key(SCOPE.text, "classify", '"a"') != cache_key(changed.text, "classify", '"a"')


def _recomputes(first, second) -> bool:
    before = second.forward_passes
    second.classify(TEXTS)
    return second.cache_stats.hits == 0 and second.forward_passes > before


@pytest.mark.parametrize("patch", ["semantics", "torch", "transformers", "package"])
def test_version_changes_miss_the_shared_cache(tiny_classifier_dir, tmp_path, monkeypatch, patch):
    first = _load(tiny_classifier_dir, tmp_path)
    first.classify(TEXTS)
    same = _load(tiny_classifier_dir, tmp_path)
    same.classify(TEXTS)
    assert same.cache_stats.hits == len(TEXTS) and same.forward_passes == 0
    if patch == "semantics":
        monkeypatch.setattr(runtime, "ADAPTER_SEMANTICS_VERSION", "999")
    elif patch == "torch":
        monkeypatch.setattr(torch, "__version__", "9.9.9")
    elif patch == "transformers":
        import transformers
        monkeypatch.setattr(transformers, "__version__", "9.9.9")
    else:
        monkeypatch.setattr(runtime, "package_version", lambda name: "9.9.9")
    assert _recomputes(first, _load(tiny_classifier_dir, tmp_path))


def test_dtype_max_length_and_attention_implementation_miss(tiny_classifier_dir, tmp_path):
    first = _load(tiny_classifier_dir, tmp_path)
    first.classify(TEXTS)
    assert _recomputes(first, _load(tiny_classifier_dir, tmp_path, max_length=64))
    assert _recomputes(first, _load(tiny_classifier_dir, tmp_path, dtype="bfloat16"))
    eager = _load(tiny_classifier_dir, None)
    eager.model.set_attn_implementation("eager" if first.model_info()["attn_implementation"] != "eager" else "sdpa")
    scope = runtime.build_scope(first.fingerprint, first.dtype, first.max_length,
                                eager.model.config._attn_implementation, "cpu")
    assert scope.text != first.cache_scope
    assert runtime.build_scope(first.fingerprint, first.dtype, first.max_length, "sdpa", "cuda:0").text != \
        runtime.build_scope(first.fingerprint, first.dtype, first.max_length, "sdpa", "cpu").text


def test_remote_code_files_are_part_of_the_fingerprint(tiny_classifier_dir, tmp_path):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_classifier_dir, folder)
    (folder / "modeling_custom.py").write_text("X = 1\n")
    trusted = ModelSpec(path=str(folder), trust_remote_code=True)
    before = model_fingerprint("m", trusted, tmp_path)
    (folder / "modeling_custom.py").write_text("X = 2\n")
    assert model_fingerprint("m", trusted, tmp_path) != before
    plain = ModelSpec(path=str(folder))   # remote code never runs, so it does not enter the key
    assert model_fingerprint("m", plain, tmp_path) == model_fingerprint("m", plain, tmp_path)


# ---------------------------------------------------------------- no pickle

class _Boom:
    def __reduce__(self):
        import os
        return (os.system, ("touch PWNED_BY_CACHE",))


def test_planted_pickle_is_never_loaded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cache = ResultCache.in_dir(tmp_path)
    cache.put_many({"good": np.arange(3, dtype=np.float32)})
    cache.close()
    with sqlite3.connect(tmp_path / CACHE_FILE_NAME) as db:
        db.execute("INSERT INTO results VALUES (?, ?)", ("evil", pickle.dumps(_Boom())))
    reopened = ResultCache.in_dir(tmp_path)
    found = reopened.get_many(["good", "evil"])
    assert set(found) == {"good"} and not (tmp_path / "PWNED_BY_CACHE").exists()
    assert "pickle" not in sys.modules["audit.models.adapters.cache"].__dict__


def test_codec_round_trips_results_and_refuses_object_arrays():
    from audit.models.adapters.base import Fill, LoglikelihoodResult, TokenLogprobs

    values = [np.array([[1.5, float("nan")]], dtype=np.float32), LoglikelihoodResult(-1.25, False, 3),
              [Fill("a", 1, 0.5)], TokenLogprobs(["a", "b"], [1, 2], np.array([-0.5])), (1, "x"),
              {"k": [1, 2.5, None, float("inf")]}]
    for value in values:
        back = decode(encode(value))
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(back, value)
            assert back.dtype == value.dtype
        elif isinstance(value, TokenLogprobs):
            assert back.tokens == value.tokens and np.array_equal(back.logprobs, value.logprobs)
        else:
            assert back == value
    with pytest.raises(TypeError):
        encode(np.array([object()]))
    with pytest.raises(CacheDecodeError):
        decode(b'{"__t": "os.system", "v": {}}')


# ---------------------------------------------------------------- bounded memory and per-call policy

def test_memory_layer_is_a_bounded_lru():
    cache = ResultCache(None, memory_entries=3)
    cache.put_many({"a": 1, "b": 2, "c": 3})
    assert cache.get_many(["a"]) == {"a": 1}       # a is now the most recently used
    cache.put_many({"d": 4, "e": 5})
    assert len(cache) == 3
    assert set(cache.get_many(["a", "b", "c", "d", "e"])) == {"a", "d", "e"}


def test_memory_policy_never_writes_disk_and_off_never_reads(tiny_classifier_dir, tmp_path):
    adapter = _load(tiny_classifier_dir, tmp_path)
    one_off = adapter.classify(TEXTS, cache=CachePolicy.MEMORY)
    assert adapter.classify(TEXTS, cache=CachePolicy.MEMORY) is not None and adapter.cache_stats.hits == 3
    rows = sqlite3.connect(tmp_path / CACHE_FILE_NAME).execute("SELECT COUNT(*) FROM results").fetchone()
    assert rows == (0,)
    other = _load(tiny_classifier_dir, tmp_path)
    np.testing.assert_allclose(other.classify(TEXTS), one_off, atol=1e-6)
    assert other.cache_stats.hits == 0
    passes = other.forward_passes
    other.classify(TEXTS, cache=CachePolicy.OFF)
    assert other.forward_passes > passes and other.cache_stats.hits == 0


# ---------------------------------------------------------------- OOM cap

def _oom_above(limit: int, sizes: list[int]):
    def compute(batch):
        sizes.append(len(batch))
        if len(batch) > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return batch
    return compute


def test_learned_oom_cap_outlives_the_call():
    cap, sizes = OomCap(), []
    policy = BatchPolicy(batch_size=16, token_budget=0)
    run_batched(list(range(16)), [4] * 16, _oom_above(4, sizes), policy, cap=cap)
    assert cap.items == 4
    sizes.clear()
    run_batched(list(range(16)), [4] * 16, _oom_above(4, sizes), policy, cap=cap)
    assert sizes == [4, 4, 4, 4]       # no second failure: the next call starts at the cap


def test_memory_is_released_after_the_except_block(monkeypatch):
    seen = []
    monkeypatch.setattr(batching, "_release_cuda_memory", lambda: seen.append(sys.exc_info()[0]))
    run_batched(list(range(8)), [2] * 8, _oom_above(2, []), BatchPolicy(batch_size=8, token_budget=0))
    assert seen and all(exc is None for exc in seen)   # the failed batch's traceback is gone


def test_adapter_keeps_one_cap_for_its_lifetime(tiny_classifier_dir):
    adapter = _load(tiny_classifier_dir, None)
    assert adapter.rt.oom_cap is adapter.rt.oom_cap and adapter.rt.oom_cap.items is None


# ---------------------------------------------------------------- bf16 compute on a CPU

def test_cpu_bf16_keeps_float32_weights_and_autocasts(tiny_classifier_dir):
    exact = _load(tiny_classifier_dir, None)
    half = _load(tiny_classifier_dir, None, dtype="bfloat16")
    assert next(half.model.parameters()).dtype == torch.float32 and half.dtype == torch.bfloat16
    assert half.model_info()["weights_dtype"] == "float32" and half.cache_scope != exact.cache_scope
    assert half.model_info()["torch_threads"] == torch.get_num_threads()       # bf16 sums split by thread
    assert "torch_threads" not in exact.model_info()
    np.testing.assert_allclose(half.classify(TEXTS), exact.classify(TEXTS), atol=2e-2)


def test_fast_dtype_follows_the_cpu_flags(tmp_path):
    from audit.models.adapters.loading import cpu_has_fast_bf16

    (tmp_path / "amx").write_text("processor\t: 0\nflags\t\t: fpu sse avx512f amx_bf16 amx_tile\n")
    (tmp_path / "old").write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert cpu_has_fast_bf16(tmp_path / "amx") and not cpu_has_fast_bf16(tmp_path / "old")
    assert not cpu_has_fast_bf16(tmp_path / "missing")
