"""The adapter seams the explainability, robustness and privacy suites stand on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from audit.models.adapters.base import Capability, GradientRequest, IdsInput, LossRequest
from audit.models.resolve import load_adapter
from audit.models.adapters.metering import BudgetExceeded, QueryMeter
from audit.config.schema import ModelSpec
from audit.errors import CapabilityError, DataError

TEXTS = ["a good movie", "a bad movie that goes on and on", "fine"]


def _load(folder, name="m", **spec):
    return load_adapter(name, ModelSpec(path=str(folder), **spec), prepared_dir=folder.parent, cache_dir=None)


@pytest.fixture(scope="module")
def clf(tiny_classifier_dir):
    return _load(tiny_classifier_dir, "clf")


@pytest.fixture(scope="module")
def llama(tiny_llama_dir):
    return _load(tiny_llama_dir, "llama")


def _hf_classifier(folder):
    return AutoModelForSequenceClassification.from_pretrained(folder).eval()


# ---------------------------------------------------------------- encode / classify_ids

def test_encode_gives_offsets_special_tokens_and_truncation(clf, tiny_classifier_dir):
    enc = clf.encode(["a good movie"])[0]
    assert enc.special[0] and enc.special[-1] and not any(enc.special[1:-1])
    assert [("a good movie")[a:b] for a, b in enc.offsets[1:-1]] == ["a", "good", "movie"]
    long = _load(tiny_classifier_dir, max_length=8).encode(["one two three four five six seven eight nine"])[0]
    assert long.truncated and len(long.input_ids) == 8 and long.special[-1]


def test_classify_ids_equals_classify_and_honours_the_mask(clf, tiny_classifier_dir):
    ids = clf.tokenize(TEXTS)
    by_ids = clf.classify_ids([IdsInput(tuple(s)) for s in ids])
    np.testing.assert_allclose(by_ids, clf.classify(TEXTS), atol=1e-6)
    seq = ids[1]
    hidden = tuple(0 if 2 <= i < 5 else 1 for i in range(len(seq)))
    masked = clf.classify_ids([IdsInput(tuple(seq), hidden)])[0]
    model = _hf_classifier(tiny_classifier_dir)
    with torch.no_grad():
        ref = torch.softmax(model(input_ids=torch.tensor([seq]), attention_mask=torch.tensor([hidden])).logits, -1)
    np.testing.assert_allclose(masked, ref[0].numpy(), atol=1e-5)
    with pytest.raises(DataError, match="attention_mask"):
        clf.classify_ids([IdsInput((1, 2, 3), (1, 1))])


# ---------------------------------------------------------------- losses

def test_classifier_losses_are_cross_entropy(clf, tiny_classifier_dir):
    losses = clf.losses([LossRequest(t, label=i % 2) for i, t in enumerate(TEXTS)])
    model = _hf_classifier(tiny_classifier_dir)
    enc = clf.tokenize(TEXTS)
    for i, seq in enumerate(enc):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([seq])).logits.double()
        expected = torch.nn.functional.cross_entropy(logits, torch.tensor([i % 2])).item()
        assert losses[i] == pytest.approx(expected, abs=1e-5)
    with pytest.raises(DataError, match="label"):
        clf.losses([LossRequest("x", label=7)])


def test_causal_losses_are_mean_token_nll(llama, tiny_llama_dir):
    losses = llama.losses([LossRequest(t) for t in TEXTS])
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    prefix = llama._causal.prefix_id(allow_eos=True)
    for text, loss in zip(TEXTS, losses):
        ids = torch.tensor([[prefix] + llama.tokenize([text], add_special_tokens=False)[0]])
        with torch.no_grad():
            ref = model(input_ids=ids, labels=ids).loss.item()   # HF's own mean shifted cross-entropy
        assert loss == pytest.approx(ref, abs=1e-4)


# ---------------------------------------------------------------- integrated gradients

def _riemann_ig(model, ids, target, steps=400):
    """An independent integrated-gradients reference: midpoint Riemann sum, one row at a time."""
    emb = model.get_input_embeddings()
    with torch.no_grad():
        x = emb(torch.tensor([ids]))[0]
        base = x.clone()
        base[1:-1] = emb(torch.tensor([0]))[0]   # pad (id 0) on every non-special token
    total = torch.zeros_like(x)
    for k in range(steps):
        point = (base + (k + 0.5) / steps * (x - base)).unsqueeze(0).requires_grad_(True)
        prob = torch.softmax(model(inputs_embeds=point).logits, -1)[0, target]
        total += torch.autograd.grad(prob, point)[0][0]
    return ((x - base) * total / steps).sum(-1).numpy()


def test_classifier_ig_matches_an_independent_reference_and_is_complete(clf, tiny_classifier_dir):
    attribution = clf.gradients([GradientRequest(TEXTS[1], target=1, steps=32)])[0]
    assert attribution.special[0] and attribution.special[-1]
    assert attribution.scores[0] == 0 and attribution.scores[-1] == 0
    assert attribution.completeness_gap < 1e-4
    probs = clf.classify([TEXTS[1]])[0]
    assert attribution.output == pytest.approx(float(probs[1]), abs=1e-5)
    ref = _riemann_ig(_hf_classifier(tiny_classifier_dir), attribution.token_ids, target=1)
    np.testing.assert_allclose(attribution.scores, ref, atol=1e-5 + 1e-3 * np.abs(ref).max())


def test_ig_batches_steps_of_several_examples_together(clf):
    passes = clf.forward_passes
    out = clf.gradients([GradientRequest(t, target=0, steps=16) for t in TEXTS])
    assert len(out) == 3 and clf.forward_passes - passes == 1   # 3 x (16 + 2) rows fit one batch
    with pytest.raises(DataError, match="baseline"):
        clf.gradients([GradientRequest("x", target=0, baseline="noise")])


def test_causal_ig_attributes_the_prompt_and_is_complete(llama):
    prompt, continuation = "Review: a dull film\nSentiment:", " negative"
    # not "pad": the tiny model's pad embedding is the zero vector (padding_idx), where RMSNorm is
    # singular and the path integral needs hundreds of steps
    attribution = llama.gradients([GradientRequest(prompt, target=continuation, steps=48, baseline="mask")])[0]
    logprob = llama.loglikelihood([(prompt, continuation)])[0].logprob
    assert attribution.output == pytest.approx(logprob, abs=1e-4)
    assert attribution.completeness_gap < 1e-3 * max(1.0, abs(attribution.output - attribution.baseline_output))
    n_cont = sum(attribution.special) - 0
    assert all(attribution.special[-n_cont:]) and not any(attribution.special[:-n_cont])
    spans = [prompt[a:b] for (a, b), s in zip(attribution.offsets, attribution.special) if not s]
    assert "".join(spans) == "".join(prompt.split())


# ---------------------------------------------------------------- packing on a RoPE model

def test_shared_context_packing_on_a_llama_model(llama, tiny_llama_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    contexts = ["the movie was long and the plot was thin , so i", "a quiet drama about a family that"]
    choices = [" loved it", " hated every minute", " left"]
    requests = [(c, x) for c in contexts for x in choices]
    packed = llama.loglikelihood(requests)
    assert llama._causal.packing_ok is True
    for (context, choice), result in zip(requests, packed):
        whole = llama.tokenize([context + choice], add_special_tokens=False)[0]
        ids = torch.tensor([whole])
        with torch.no_grad():
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0].double(), -1)
        ref = sum(float(logprobs[p - 1, whole[p]]) for p in range(len(whole) - result.n_tokens, len(whole)))
        assert result.logprob == pytest.approx(ref, abs=1e-3)


# ---------------------------------------------------------------- truncation is counted

def test_truncated_inputs_are_counted_cached_or_not(tiny_classifier_dir, tmp_path):
    adapter = load_adapter("short", ModelSpec(path=str(tiny_classifier_dir), max_length=8),
                           prepared_dir=tmp_path, cache_dir=tmp_path)
    long = "one two three four five six seven eight nine ten"
    adapter.classify([long, "short"])
    assert adapter.truncated_inputs == 1
    again = load_adapter("short", ModelSpec(path=str(tiny_classifier_dir), max_length=8),
                         prepared_dir=tmp_path, cache_dir=tmp_path)
    again.classify([long])
    assert again.forward_passes == 0 and again.truncated_inputs == 1


# ---------------------------------------------------------------- query meter

def test_meter_counts_requests_queries_and_hits_per_scope(clf):
    meter = QueryMeter(clf)
    fresh = [f"never seen {i}" for i in range(4)]
    with meter.scope("ex1", budget=10) as count:
        meter.adapter.classify(fresh + fresh[:1])
        meter.adapter.classify(fresh[:2])
    assert count.as_dict() == {"requests": 7, "model_queries": 4, "cache_hits": 2, "duplicates": 1, "budget": 10}
    assert count.remaining == 3
    with pytest.raises(BudgetExceeded):
        with meter.scope("ex1"):
            meter.adapter.classify(fresh)
    assert meter.scopes["ex1"].requests == 7       # the refused call was not charged
    assert meter.totals.requests == 7
    assert meter.adapter.labels == clf.labels      # non-batched attributes pass through


def test_capabilities_are_checked(llama):
    with pytest.raises(CapabilityError, match="classify"):
        llama.classify(["x"])
    assert Capability.GRADIENTS in llama.capabilities and Capability.LOSSES in llama.capabilities
