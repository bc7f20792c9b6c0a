"""No device -> host copy inside the adapter's batch loop: batches hand back device tensors and the
runtime copies a call's results once, after the last batch, with the same values."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch

from audit.config.schema import ModelSpec
from audit.models.adapters.base import GradientRequest, MaskedQuery
from audit.models.adapters.cache import ResultCache
from audit.models.adapters.host import host_arrays, to_host
from audit.models.resolve import load_adapter

ADAPTERS = str(Path(__file__).resolve().parents[1] / "audit" / "models" / "adapters")
HOST_COPIES = ("cpu", "numpy", "item", "tolist", "__bool__", "__float__", "__int__")
TEXTS = ["a good movie", "terrible , really awful film", "ok", "the plot drags on and on"]


@contextlib.contextmanager
def host_copies_in_batches(rt, root: str = ADAPTERS) -> Iterator[list[str]]:
    """Record every tensor -> host conversion made by code under `root` (the adapter's, not
    transformers') while a batch's compute runs; the one copy after the loop (host.py) is outside."""
    calls: list[str] = []
    inside = [0]
    originals = {name: getattr(torch.Tensor, name) for name in HOST_COPIES}

    def recording(name):
        def method(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if inside[0] and caller.startswith(root):
                calls.append(f"{name} in {Path(caller).name}:{sys._getframe(1).f_lineno}")
            return originals[name](self, *args, **kwargs)
        return method

    run = rt.run

    def counted(items, compute, **kwargs):
        def in_batch(batch):
            inside[0] += 1
            try:
                return compute(batch)
            finally:
                inside[0] -= 1
        return run(items, in_batch, **kwargs)

    for name in HOST_COPIES:
        setattr(torch.Tensor, name, recording(name))
    rt.run = counted
    try:
        yield calls
    finally:
        for name, method in originals.items():
            setattr(torch.Tensor, name, method)
        del rt.run


def _adapter(folder: Path):
    adapter = load_adapter("m", ModelSpec(path=str(folder), batch_size=2), prepared_dir=folder.parent, cache_dir=None)
    adapter.set_cache(ResultCache.off())
    return adapter


def test_to_host_copies_once_per_dtype_with_the_same_values():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, generator=g)
    hits = logits.argmax(-1) == torch.tensor([0, 1, 2])
    nested = [(logits[0], hits[:1]), [logits[1:], (hits[1:], "kept")], 7]
    out = to_host(nested)
    assert out[2] == 7 and out[1][1][1] == "kept"
    assert np.array_equal(out[0][0], logits[0].numpy()) and out[1][0].shape == (2, 5)
    assert out[1][1][0].dtype == np.bool_ and out[1][1][0].tolist() == hits[1:].tolist()
    concatenated = host_arrays([logits[0], hits[:1], logits[1:], hits[1:]], concatenate=True)   # the GPU path
    for array, tensor in zip(concatenated, [logits[0], hits[:1], logits[1:], hits[1:]]):
        assert array.dtype == tensor.numpy().dtype and array.tobytes() == tensor.numpy().tobytes()


def test_batches_make_no_host_copy_and_results_are_unchanged(tiny_classifier_dir, tiny_causal_dir, tiny_mlm_dir):
    clf, lm, mlm = _adapter(tiny_classifier_dir), _adapter(tiny_causal_dir), _adapter(tiny_mlm_dir)
    mask = mlm.rt.tokenizer.mask_token
    calls_of = {
        "classify": lambda: clf.classify(TEXTS), "embed": lambda: clf.embed(TEXTS),
        "gradients": lambda: [a.scores for a in clf.gradients([GradientRequest(t, target=1, steps=4) for t in TEXTS])],
        "loglikelihood": lambda: [(r.logprob, r.is_greedy) for r in lm.loglikelihood(
            [("the film was", " good"), ("the film was", " bad"), ("", "ok then"), ("a plot", " that drags")])],
        "token_logprobs": lambda: [r.logprobs for r in lm.token_logprobs(TEXTS)],
        "masked_scores": lambda: mlm.masked_scores([MaskedQuery(tuple(ids), 2, (5, 6, 7)) for ids in
                                                    mlm.rt.tokenize(TEXTS)]),
        "mask_fill": lambda: [[(f.token_id, f.prob) for f in fills] for fills in
                              mlm.mask_fill([f"a {mask} movie", f"the plot {mask} on"], top_k=3)],
    }
    for call in calls_of.values():
        call()                        # warm-up: the output head is checked once per adapter (one sync)
    for name, call in calls_of.items():
        rt = {"classify": clf, "embed": clf, "gradients": clf, "mask_fill": mlm, "masked_scores": mlm}.get(name, lm).rt
        expected = call()
        with host_copies_in_batches(rt) as calls:
            got = call()
        assert calls == [], f"{name}: host copies inside the batch loop: {calls}"
        assert repr(got) == repr(expected), name                # same values, same types


def test_the_recorder_sees_a_host_copy_in_a_batch(tiny_classifier_dir):
    """Planted defect: a batch that reads a value back (.item()) is caught; without one, nothing is."""
    rt = _adapter(tiny_classifier_dir).rt
    seqs = rt.tokenize(TEXTS)

    def syncing(batch):
        ids, mask = rt.pad(batch)
        return [float(row.sum().item()) for row in ids]

    with host_copies_in_batches(rt, root=__file__) as calls:
        rt.run(seqs, syncing, desc="planted")
    assert calls and calls[0].startswith("item in ")
    with host_copies_in_batches(rt, root=__file__) as calls:
        rt.run(seqs, lambda batch: list(rt.pad(batch)[0].float()), desc="null")
    assert calls == []
