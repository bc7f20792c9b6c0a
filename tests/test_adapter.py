"""HFAdapter on tiny models: batched == one-at-a-time == a direct reference computed with the model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForSequenceClassification, \
    AutoTokenizer

from audit.models.adapters.base import Capability, MaskedQuery, ModelAdapter, ModelKind
from audit.models.adapters.cache import ResultCache
from audit.models.adapters.causal_ops import ScoreJob
from audit.models.adapters.hf import HFAdapter
from audit.models.adapters.loading import infer_kind
from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec
from audit.errors import CapabilityError, DataError, ModelLoadError

ATOL = 1e-4
TEXTS = [
    "a good movie",
    "terrible , really awful film that nobody in the theatre liked at all , not even the critics",
    "ok",
    "the acting is fine but the plot drags on and on",
    "wonderful",
    "i would not watch it again",
    "an uneven , sometimes brilliant , often tedious drama about family and memory",
]


def _adapter(folder: Path, batch_size: int | str = "auto", **spec: object) -> HFAdapter:
    adapter = load_adapter("m", ModelSpec(path=str(folder), batch_size=batch_size, **spec),
                           prepared_dir=folder.parent, cache_dir=None)
    adapter.set_cache(ResultCache.off())
    return adapter


@pytest.fixture(scope="module")
def clf(tiny_classifier_dir) -> HFAdapter:
    return _adapter(tiny_classifier_dir, batch_size=3)


@pytest.fixture(scope="module")
def mlm(tiny_mlm_dir) -> HFAdapter:
    return _adapter(tiny_mlm_dir, batch_size=4)


@pytest.fixture(scope="module")
def causal(tiny_causal_dir) -> HFAdapter:
    return _adapter(tiny_causal_dir, batch_size=3)


def test_protocol_and_capabilities(clf, mlm, causal):
    for adapter in (clf, mlm, causal):
        assert isinstance(adapter, ModelAdapter)
    assert clf.kind is ModelKind.CLASSIFIER and Capability.CLASSIFY in clf.capabilities
    assert mlm.kind is ModelKind.MASKED_LM and Capability.MASKED_SCORES in mlm.capabilities
    assert causal.kind is ModelKind.CAUSAL_LM and Capability.LOGLIKELIHOOD in causal.capabilities
    info = clf.model_info()
    assert info["architecture"] == "BertForSequenceClassification"
    assert info["n_params"] == sum(p.numel() for p in clf.model.parameters()) and info["device"] == "cpu"
    assert len(clf.fingerprint) == 64 and clf.fingerprint != mlm.fingerprint


@pytest.mark.parametrize("call", [
    lambda a: a.loglikelihood([("a", "b")]), lambda a: a.masked_scores([]), lambda a: a.token_logprobs(["x"]),
    lambda a: a.mask_fill(["[MASK]"])])
def test_missing_capability_raises(clf, call):
    with pytest.raises(CapabilityError, match="lacks capability"):
        call(clf)


def test_mlm_cannot_classify(mlm, causal):
    with pytest.raises(CapabilityError):
        mlm.classify(["x"])
    with pytest.raises(CapabilityError):
        causal.masked_scores([])


def test_classify_batched_equals_single_and_reference(clf, tiny_classifier_dir):
    batched = clf.classify(TEXTS)
    single = np.stack([clf.classify([t])[0] for t in TEXTS])
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_classifier_dir)
    with torch.no_grad():
        reference = np.stack([torch.softmax(model(**tok(t, return_tensors="pt")).logits[0], -1).numpy()
                              for t in TEXTS])
    assert batched.shape == (len(TEXTS), 2)
    np.testing.assert_allclose(batched, single, atol=ATOL)
    np.testing.assert_allclose(batched, reference, atol=ATOL)
    np.testing.assert_allclose(batched.sum(axis=1), 1.0, atol=1e-6)
    assert clf.labels == ["negative", "positive"]
    assert clf.classify([]).shape == (0, 2)


def test_embed_batched_equals_single_and_mean_pool(clf, tiny_classifier_dir):
    batched = clf.embed(TEXTS)
    single = np.stack([clf.embed([t])[0] for t in TEXTS])
    np.testing.assert_allclose(batched, single, atol=ATOL)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_classifier_dir)
    with torch.no_grad():
        hidden = model.bert(**tok(TEXTS[1], return_tensors="pt")).last_hidden_state[0]
    np.testing.assert_allclose(batched[1], hidden.mean(0).numpy(), atol=ATOL)


def test_results_in_caller_order(clf):
    """Sorting by length must not reorder results: reversing the input reverses the output."""
    forward = clf.classify(TEXTS)
    backward = clf.classify(TEXTS[::-1])
    np.testing.assert_allclose(forward, backward[::-1], atol=ATOL)


def _causal_reference(folder: Path, ids: list[int]) -> np.ndarray:
    """log p(ids[i+1] | ids[:i+1]) for one unpadded sequence, straight from the model."""
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    logprobs = torch.log_softmax(logits[:-1], -1)
    return logprobs.gather(1, torch.tensor(ids[1:]).unsqueeze(1)).squeeze(1).numpy()


def test_token_logprobs_batched_equals_single_and_reference(causal, tiny_causal_dir):
    batched = causal.token_logprobs(TEXTS)
    single = [causal.token_logprobs([t])[0] for t in TEXTS]
    for b, s in zip(batched, single):
        assert b.token_ids == s.token_ids
        np.testing.assert_allclose(b.logprobs, s.logprobs, atol=ATOL)
        assert len(b.logprobs) == len(b.tokens) - 1
    ref = _causal_reference(tiny_causal_dir, batched[1].token_ids)
    np.testing.assert_allclose(batched[1].logprobs, ref, atol=ATOL)


def test_loglikelihood_batched_equals_single_and_token_logprobs(causal):
    requests = [("the movie was", " great"), ("i would not", " watch it again , ever"),
                ("an uneven , sometimes brilliant drama", " about family"), ("ok", " fine")]
    batched = causal.loglikelihood(requests)
    single = [causal.loglikelihood([r])[0] for r in requests]
    for b, s in zip(batched, single):
        assert b.n_tokens == s.n_tokens and b.is_greedy == s.is_greedy
        assert abs(b.logprob - s.logprob) < ATOL
    # where context + continuation tokenizes as context tokens + continuation tokens, the
    # loglikelihood is the sum of the last n_tokens per-token log-probs of the whole text
    for (context, continuation), result in zip(requests, batched):
        whole = causal.token_logprobs([context + continuation])[0]
        ctx_ids = causal.tokenize([context], add_special_tokens=False)[0]
        assert whole.token_ids[:len(ctx_ids)] == ctx_ids
        assert result.n_tokens == len(whole.token_ids) - len(ctx_ids)
        assert abs(result.logprob - float(whole.logprobs[-result.n_tokens:].sum())) < ATOL


def test_loglikelihood_empty_context_uses_prefix_token(causal, tiny_causal_dir):
    result = causal.loglikelihood([("", "hello world")])[0]
    ids = causal.tokenize(["hello world"], add_special_tokens=False)[0]
    prefix = causal.model.config.bos_token_id  # the BERT tokenizer has no bos/eos: config's bos is used
    ref = _causal_reference(tiny_causal_dir, [prefix] + ids)
    assert result.n_tokens == len(ids)
    assert abs(result.logprob - float(ref.sum())) < ATOL


def test_loglikelihood_is_greedy_matches_argmax(causal, tiny_causal_dir):
    """is_greedy is True exactly when every scored token is the model's argmax."""
    ids = causal.tokenize(["the movie was"], add_special_tokens=False)[0]
    model = AutoModelForCausalLM.from_pretrained(tiny_causal_dir).eval()
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1]
    best, other = int(logits.argmax()), int(logits.argmin())
    greedy, not_greedy = causal._causal.score([ScoreJob(tuple(ids + [best]), 1), ScoreJob(tuple(ids + [other]), 1)],
                                       desc="test")
    assert greedy[1] and not not_greedy[1]
    # and through the public string API, on a continuation that is not the argmax
    assert not causal.loglikelihood([("the movie was", " zebra zebra zebra")])[0].is_greedy


def _mlm_queries(mlm: HFAdapter) -> list[MaskedQuery]:
    queries = []
    for text in TEXTS[:5]:
        ids = mlm.tokenize([text])[0]
        for pos in range(1, len(ids) - 1, 2):
            masked = list(ids)
            masked[pos] = mlm.mask_token_id
            queries.append(MaskedQuery(tuple(masked), pos, (ids[pos], 1996, 2204)))
    return queries


def test_masked_scores_batched_equals_single_and_full_logits(mlm, tiny_mlm_dir):
    queries = _mlm_queries(mlm)
    batched = mlm.masked_scores(queries)
    single = [mlm.masked_scores([q])[0] for q in queries]
    model = AutoModelForMaskedLM.from_pretrained(tiny_mlm_dir).eval()
    with torch.no_grad():
        reference = [torch.log_softmax(model(torch.tensor([q.input_ids])).logits[0, q.position], -1)
                     [list(q.target_ids)].numpy() for q in queries]
    for b, s, r in zip(batched, single, reference):
        assert b.shape == (3,)
        np.testing.assert_allclose(b, s, atol=ATOL)
        np.testing.assert_allclose(b, r, atol=ATOL)
    assert mlm.rt is not None and mlm._masked.head.module is mlm.model.cls  # the head-only path was found and verified


def test_masked_scores_dedups_and_runs_head_only_at_masks(mlm):
    queries = _mlm_queries(mlm)
    mlm.masked_scores(queries[:1])  # the one-off head check happens here, outside the counted call
    base_rows, head_rows, full_calls = [], [], []
    hooks = [mlm.model.base_model.register_forward_hook(lambda m, a, k, o: base_rows.append(k["input_ids"].shape[0]),
                                                        with_kwargs=True),
             mlm.model.cls.register_forward_hook(lambda m, a, o: head_rows.append(a[0].shape)),
             mlm.model.register_forward_hook(lambda m, a, o: full_calls.append(1))]
    try:
        doubled = queries + [MaskedQuery(q.input_ids, q.position, q.target_ids[:1]) for q in queries]
        out = mlm.masked_scores(doubled)
    finally:
        for hook in hooks:
            hook.remove()
    assert sum(base_rows) == len({q.input_ids for q in queries})  # every distinct sequence once
    assert all(len(shape) == 2 for shape in head_rows)            # head saw (k, hidden) rows only
    assert sum(shape[0] for shape in head_rows) == len({(q.input_ids, q.position) for q in queries})
    assert not full_calls                                         # no full-vocabulary logits
    for q, a, b in zip(queries, out[:len(queries)], out[len(queries):]):
        np.testing.assert_allclose(a[:1], b, atol=1e-6)


def test_masked_scores_bad_position(mlm):
    with pytest.raises(DataError, match="position 99"):
        mlm.masked_scores([MaskedQuery((101, 103, 102), 99, (5,))])


def test_mask_fill_top_k_matches_reference(mlm, tiny_mlm_dir):
    texts = ["the [MASK] sat on the mat", "paris is the [MASK] of france ."]
    fills = mlm.mask_fill(texts, top_k=4)
    model = AutoModelForMaskedLM.from_pretrained(tiny_mlm_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_mlm_dir)
    for text, got in zip(texts, fills):
        enc = tok(text, return_tensors="pt")
        pos = int((enc["input_ids"][0] == tok.mask_token_id).nonzero()[0, 0])
        with torch.no_grad():
            probs = torch.softmax(model(**enc).logits[0, pos], -1)
        top = torch.topk(probs, 4)
        assert [f.token_id for f in got] == top.indices.tolist()
        np.testing.assert_allclose([f.prob for f in got], top.values.numpy(), atol=1e-5)
        assert got[0].token == tok.decode([got[0].token_id]).strip()
    with pytest.raises(DataError, match="text 0"):
        mlm.mask_fill(["no mask here"])


def test_attentions_batched_equals_single(clf):
    batched = clf.attentions(TEXTS[:3])
    single = [clf.attentions([t])[0] for t in TEXTS[:3]]
    for b, s in zip(batched, single):
        n = len(b.tokens)
        assert b.attentions.shape == (2, 2, n, n)
        np.testing.assert_allclose(b.attentions, s.attentions, atol=ATOL)
        np.testing.assert_allclose(b.attentions.sum(-1), 1.0, atol=1e-5)
    assert b.tokens[0] == "[CLS]" and b.tokens[-1] == "[SEP]"
    assert clf.model.config._attn_implementation != "eager"  # restored after the call


def test_tokenize_and_decode(clf):
    ids = clf.tokenize(["a good movie"])[0]
    assert ids[0] == clf.tokenizer.cls_token_id and ids[-1] == clf.tokenizer.sep_token_id
    assert clf.tokenize(["a good movie"], add_special_tokens=False)[0] == ids[1:-1]
    assert clf.decode_tokens(ids) == ["[CLS]", "a", "good", "movie", "[SEP]"]
    assert clf.mask_token == "[MASK]" and clf.mask_token_id == clf.tokenizer.mask_token_id


def test_auto_batch_size_gives_same_results(tiny_classifier_dir, clf):
    auto = _adapter(tiny_classifier_dir)
    assert auto.batch_size is None
    np.testing.assert_allclose(auto.classify(TEXTS), clf.classify(TEXTS), atol=ATOL)


# ---------------------------------------------------------------- loading

def test_infer_kind():
    assert infer_kind(["LlamaForCausalLM"]) is ModelKind.CAUSAL_LM
    assert infer_kind(["GPT2LMHeadModel"]) is ModelKind.CAUSAL_LM
    assert infer_kind(["BertForMaskedLM"]) is ModelKind.MASKED_LM
    assert infer_kind(["BertForSequenceClassification"]) is ModelKind.CLASSIFIER
    assert infer_kind(["BertModel"]) is ModelKind.ENCODER
    assert infer_kind(None) is ModelKind.ENCODER


def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="no such local folder"):
        load_adapter("x", ModelSpec(path=str(tmp_path / "nope")), prepared_dir=tmp_path, cache_dir=None)
    with pytest.raises(ModelLoadError, match="prepare"):
        load_adapter("x", ModelSpec(path="prepared:nope"), prepared_dir=tmp_path, cache_dir=None)


def test_not_a_model_folder(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="config.json"):
        load_adapter("x", ModelSpec(path=str(tmp_path / "m")), prepared_dir=tmp_path, cache_dir=None)
    (tmp_path / "e").mkdir()
    with pytest.raises(ModelLoadError, match="no model weights"):
        load_adapter("x", ModelSpec(path=str(tmp_path / "e")), prepared_dir=tmp_path, cache_dir=None)


def test_prepared_reference(tiny_classifier_dir, tmp_path):
    shutil.copytree(tiny_classifier_dir, tmp_path / "clf")
    adapter = load_adapter("x", ModelSpec(path="prepared:clf"), prepared_dir=tmp_path, cache_dir=None)
    assert adapter.kind is ModelKind.CLASSIFIER


def _pickle_only_copy(src: Path, dst: Path) -> Path:
    model = AutoModelForSequenceClassification.from_pretrained(src)
    dst.mkdir()
    torch.save(model.state_dict(), dst / "pytorch_model.bin")
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(src / name, dst / name)
    return dst


def test_pickle_only_refused_unless_allowed(tiny_classifier_dir, tmp_path, clf):
    folder = _pickle_only_copy(tiny_classifier_dir, tmp_path / "pkl")
    with pytest.raises(ModelLoadError, match="allow_pickle: true"):
        load_adapter("x", ModelSpec(path=str(folder)), prepared_dir=tmp_path, cache_dir=None)
    allowed = load_adapter("x", ModelSpec(path=str(folder), allow_pickle=True), prepared_dir=tmp_path,
                           cache_dir=None)
    np.testing.assert_allclose(allowed.classify(TEXTS[:2]), clf.classify(TEXTS[:2]), atol=ATOL)


def test_wrong_kind_with_random_head_refused(tiny_classifier_dir, tmp_path):
    with pytest.raises(ModelLoadError, match="kind: masked_lm"):
        load_adapter("x", ModelSpec(path=str(tiny_classifier_dir), kind="masked_lm"), prepared_dir=tmp_path,
                     cache_dir=None)


def test_encoder_kind_from_real_minilm(real_minilm_dir, tmp_path):
    adapter = load_adapter("minilm", ModelSpec(path=str(real_minilm_dir)), prepared_dir=tmp_path, cache_dir=None)
    assert adapter.kind is ModelKind.ENCODER
    assert adapter.capabilities == {Capability.EMBED, Capability.ATTENTIONS, Capability.TOKENIZE, Capability.ENCODE,
                                    Capability.TRAIN}
    vectors = adapter.embed(["a cat sat on the mat", "a kitten rested on the rug", "stock prices fell"])
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert vectors.shape == (3, 384)
    assert unit[0] @ unit[1] > unit[0] @ unit[2]  # a real encoder: paraphrases are closer


def test_causal_scoring_applies_lm_head_only_at_scored_positions(causal, tiny_causal_dir):
    """The LM head is found (lm_head) and sees one row per scored token, not every position."""
    requests = [("the movie was", " great"), ("an uneven , sometimes brilliant drama", " about family")]
    causal.loglikelihood(requests[:1])           # resolves and verifies the head once
    assert causal._causal.head.module is causal.model.lm_head
    rows = []
    hook = causal.model.lm_head.register_forward_hook(lambda m, i, o: rows.append(i[0].shape[0]))
    try:
        fresh = [(c + " indeed", x) for c, x in requests]
        results = causal.loglikelihood(fresh)
    finally:
        hook.remove()
    assert sum(rows) == sum(r.n_tokens for r in results)
    for (context, continuation), result in zip(fresh, results):
        ids = causal.tokenize([context + continuation], add_special_tokens=False)[0]
        ref = _causal_reference(tiny_causal_dir, ids)
        assert abs(result.logprob - float(ref[-result.n_tokens:].sum())) < ATOL


def test_shared_context_packing_equals_plain_scoring(tiny_causal_dir):
    """Multiple-choice requests sharing a context are packed into one sequence with a 4D mask;
    the log-probs equal scoring each (context, choice) on its own."""
    adapter = load_adapter("packed", ModelSpec(path=str(tiny_causal_dir)), prepared_dir=tiny_causal_dir,
                           cache_dir=None)
    contexts = ["the movie was long and the plot was thin , so i", "a quiet drama about a family that"]
    choices = [" loved it", " hated every minute", " left", " falls apart", " heals"]
    requests = [(c, x) for c in contexts for x in choices] + [("unshared context", " alone")]
    packed = adapter.loglikelihood(requests)
    assert adapter._causal.packing_ok is True
    for (context, choice), result in zip(requests, packed):
        ids = adapter.tokenize([context + choice], add_special_tokens=False)[0]
        ref = _causal_reference(tiny_causal_dir, ids)
        assert abs(result.logprob - float(ref[-result.n_tokens:].sum())) < ATOL
    passes = adapter.forward_passes
    adapter.loglikelihood([(c + " too", x) for c in contexts for x in choices])
    assert adapter.forward_passes - passes == 1   # both packed contexts in one batch, one pass
