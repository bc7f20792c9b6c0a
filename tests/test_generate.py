"""The adapter's generate capability: batching and padding do not change a text, seeded sampling does
not depend on the batch, stop strings, the chat template, the cache keyed by the settings, the query
meter, and bad requests (empty prompt, prompt longer than the context) as DataErrors."""

from __future__ import annotations

import pytest

from audit.config.schema import ModelSpec
from audit.errors import DataError
from audit.models.adapters.base import Capability, GenerationRequest as R, GenerationSettings as S
from audit.models.adapters.generate_ops import cut_at_stop, settings_key
from audit.models.resolve import load_adapter
from audit.models.adapters.metering import QueryMeter

PROMPTS = ["the film was", "a long and winding story about the sea and the", "good", "the cast and the music of it"]


@pytest.fixture(params=["gpt2", "llama"])
def lm(request, tiny_causal_dir, tiny_llama_dir, tmp_path):
    folder = tiny_causal_dir if request.param == "gpt2" else tiny_llama_dir
    return load_adapter("tiny", ModelSpec(path=str(folder), kind="causal_lm"), prepared_dir=folder.parent,
                        cache_dir=tmp_path / "cache")


def test_causal_lm_has_generate(lm):
    assert Capability.GENERATE in lm.capabilities


def test_greedy_batched_equals_one_at_a_time(lm):
    settings = S(max_new_tokens=6)
    batched = lm.generate([R(p) for p in PROMPTS], settings, cache="off")
    single = [lm.generate([R(p)], settings, cache="off")[0] for p in PROMPTS]
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(g.n_tokens >= 1 and g.finish in ("eos", "length") for g in batched)


def test_sampled_text_depends_on_seed_not_on_batch(lm):
    settings = S(max_new_tokens=8, do_sample=True, temperature=1.5)
    batched = lm.generate([R(p, seed=i) for i, p in enumerate(PROMPTS)], settings, cache="off")
    alone = lm.generate([R(PROMPTS[1], seed=1)], settings, cache="off")[0]
    assert batched[1] == alone
    reseeded = lm.generate([R(PROMPTS[1], seed=s) for s in range(2, 8)], settings, cache="off")
    assert len({g.text for g in reseeded} | {alone.text}) > 1


def test_generate_is_cached_by_settings(lm):
    settings = S(max_new_tokens=4)
    first = lm.generate([R(p) for p in PROMPTS], settings)
    passes = lm.forward_passes
    assert lm.generate([R(p) for p in PROMPTS], settings) == first
    assert lm.forward_passes == passes                      # answered from the cache
    lm.generate([R(PROMPTS[0])], S(max_new_tokens=5))
    assert lm.forward_passes > passes                       # other settings miss
    assert settings_key(S(max_new_tokens=4)) != settings_key(S(max_new_tokens=4, stop=("x",)))


def test_greedy_ignores_the_seed_in_the_cache(lm):
    lm.generate([R(PROMPTS[0], seed=1)], S(max_new_tokens=4))
    passes = lm.forward_passes
    lm.generate([R(PROMPTS[0], seed=99)], S(max_new_tokens=4))
    assert lm.forward_passes == passes


def test_stop_strings_cut_the_text(lm):
    full = lm.generate([R(PROMPTS[1])], S(max_new_tokens=10), cache="off")[0]
    words = full.text.split()
    assert len(words) >= 3
    stop = " " + words[2]
    cut = lm.generate([R(PROMPTS[1])], S(max_new_tokens=10, stop=(stop,)), cache="off")[0]
    assert stop not in cut.text and full.text.startswith(cut.text) and cut.finish == "stop"
    assert cut_at_stop("abc STOP def", ["STOP"]) == ("abc ", True)


def test_chat_template_is_applied_when_the_model_has_one(lm):
    plain = lm.prompt_tokens(["hello there"], S())
    lm.tokenizer.chat_template = "{% for m in messages %}[user] {{ m['content'] }} [end]{% endfor %}[assistant]"
    templated = lm.prompt_tokens(["hello there"], S())
    assert templated[0] > plain[0]
    assert lm.prompt_tokens(["hello there"], S(chat=False)) == plain


def test_meter_counts_generate(lm):
    meter = QueryMeter(lm)
    with meter.scope("x"):
        meter.adapter.generate([R(p) for p in PROMPTS], S(max_new_tokens=3))
        meter.adapter.generate([R(p) for p in PROMPTS], S(max_new_tokens=3))
    count = meter.scopes["x"]
    assert count.requests == 8 and count.model_queries == 4 and count.cache_hits == 4


def test_bad_requests_are_data_errors(lm):
    with pytest.raises(DataError, match="request 1: the prompt is empty"):
        lm.generate([R("ok"), R("  ")], S())
    with pytest.raises(DataError, match="exceeds the model's context of 128"):
        lm.generate([R("word " * 120)], S(max_new_tokens=16))
    with pytest.raises(DataError, match="max_new_tokens"):
        lm.generate([R("ok")], S(max_new_tokens=0))
