"""The GPU fast path without a GPU: memory-sized token budgets, OOM caps in padded tokens per request
kind and length, low-waste length bucketing, attention kwargs, hardware facts, training batches' device."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from audit.models.adapters import gpu
from audit.models.adapters.base import ModelKind
from audit.models.adapters.batching import BatchPolicy, OomCap, batch_plan, length_bucket, run_batched
from audit.models.adapters.cache import ResultCache
from audit.models.adapters.runtime import ModelRuntime
from audit.models.training.examples import Examples


def test_token_budget_follows_free_memory():
    per_token = gpu.activation_bytes_per_token(SimpleNamespace(hidden_size=768, intermediate_size=3072),
                                               torch.bfloat16)
    assert per_token == 2 * (8 * 768 + 2 * 3072)
    big = gpu.memory_token_budget("cuda:0", per_token, free_bytes=lambda _: 80 * 2**30)
    small = gpu.memory_token_budget("cuda:0", per_token, free_bytes=lambda _: 2 * 2**30)
    assert big == min(gpu.GPU_MAX_TOKENS, int(80 * 2**30 * gpu.GPU_MEMORY_FRACTION) // per_token)
    assert small == int(2 * 2**30 * gpu.GPU_MEMORY_FRACTION) // per_token < big
    assert gpu.memory_token_budget("cuda:0", per_token, free_bytes=lambda _: 0) == gpu.GPU_MIN_TOKENS


def _runtime(device: str) -> ModelRuntime:
    model = SimpleNamespace(config=SimpleNamespace(hidden_size=64, intermediate_size=256, vocab_size=100,
                                                   _attn_implementation="sdpa"))
    tok = SimpleNamespace(pad_token_id=0, eos_token_id=1)
    return ModelRuntime("m", ModelKind.CLASSIFIER, model, tok, device, torch.bfloat16, 128, None, "fp",
                        ResultCache(None))


def test_runtime_policy_on_a_gpu_is_sized_from_memory_and_caps_padding(monkeypatch):
    monkeypatch.setattr(gpu, "cuda_free_bytes", lambda _: 4 * 2**30)
    rt = _runtime("cuda:0")
    policy = rt.policy()
    assert policy.max_padding_waste == gpu.GPU_MAX_PADDING_WASTE
    assert policy.token_budget == int(4 * 2**30 * gpu.GPU_MEMORY_FRACTION) // gpu.activation_bytes_per_token(
        rt.model.config, torch.bfloat16)
    monkeypatch.setattr(gpu, "cuda_free_bytes", lambda _: 1 * 2**30)    # memory taken since: a smaller budget
    assert rt.policy().token_budget < policy.token_budget
    cpu = _runtime("cpu").policy()
    assert cpu.max_padding_waste is None and cpu.token_budget == 4096


def test_oom_cap_is_in_padded_tokens_and_never_crosses_kinds_or_lengths():
    cap = OomCap()
    cap.learn(8, 64, "classify")                 # 8 items x 64 tokens fitted
    assert cap.tokens == {("classify", 64): 512}
    assert cap.limit(100, 60, "classify") == 512 // 60          # same bucket: scaled by length, not items
    assert cap.limit(100, 200, "classify") == 100               # another length bucket: not reused blindly
    assert cap.limit(100, 64, "loglikelihood") == 100           # another request type: not reused


def _oom_above(tokens: int, seen: list[tuple[int, int]]):
    def compute(batch):
        seen.append((len(batch), max(batch)))
        if len(batch) * max(batch) > tokens:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return batch
    return compute


def test_run_batched_learns_the_cap_per_kind():
    cap, seen = OomCap(), []
    lengths = [32] * 16
    run_batched(lengths, lengths, _oom_above(128, seen), BatchPolicy(None, 4096), desc="classify", cap=cap)
    assert cap.tokens[("classify", 32)] == 128
    seen.clear()
    run_batched(lengths, lengths, _oom_above(128, seen), BatchPolicy(None, 4096), desc="classify", cap=cap)
    assert seen == [(4, 32)] * 4                                 # no second failure
    seen.clear()
    run_batched(lengths, lengths, _oom_above(10**6, seen), BatchPolicy(None, 4096), desc="embed", cap=cap)
    assert seen == [(16, 32)]                                    # another kind starts from the budget


def test_length_bucketing_keeps_padding_waste_under_ten_percent():
    rng = torch.Generator().manual_seed(0)
    lengths = [int(x) for x in torch.randint(5, 400, (500,), generator=rng)]
    policy = BatchPolicy(None, 65_536, max_padding_waste=0.10)
    batches = batch_plan(lengths, policy)
    assert sorted(i for b in batches for i in b) == list(range(500))
    for batch in batches:
        sizes = [lengths[i] for i in batch]
        assert 1 - sum(sizes) / (len(sizes) * max(sizes)) <= 0.10
    unbucketed = batch_plan(lengths, BatchPolicy(None, 65_536))
    waste = lambda bs: 1 - sum(lengths) / sum(len(b) * max(lengths[i] for i in b) for b in bs)  # noqa: E731
    assert waste(batches) < 0.10 < waste(unbucketed)          # the planted defect: no bucketing wastes more
    assert length_bucket(33) == 64 and length_bucket(64) == 64 and length_bucket(1) == 1


def test_attention_kwargs_and_hardware_facts(tmp_path):
    assert gpu.attn_kwargs("auto", "cuda:0") == {"attn_implementation": "sdpa"}
    assert gpu.attn_kwargs("auto", "cpu") == {}
    assert gpu.attn_kwargs("eager", "cuda") == {"attn_implementation": "eager"}
    info = tmp_path / "cpuinfo"
    info.write_text("processor: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n")
    assert gpu.cpu_isa(info) == "avx512_bf16"
    info.write_text("flags: fpu sse avx2\n")
    assert gpu.cpu_isa(info) == "avx2"
    assert "hardware=" in _runtime("cpu").scope.text and gpu.cpu_isa() in _runtime("cpu").scope.text


def test_cpu_thread_count_is_in_the_scope_only_where_it_changes_numbers(monkeypatch):
    """CPU bf16 reductions split by thread (a 1-thread Ray actor and a 2-thread local run differ in the
    last bits), so a cached bf16 CPU result is scoped by thread count; fp32 and CUDA are not."""
    monkeypatch.setattr(torch, "get_num_threads", lambda: 7)
    assert gpu.reduced_precision_threads("cpu", torch.bfloat16) == 7
    assert gpu.reduced_precision_threads("cpu", torch.float16) == 7
    assert gpu.reduced_precision_threads("cpu", torch.float32) is None
    assert gpu.reduced_precision_threads("cuda:0", torch.bfloat16) is None
    assert "|threads=7" in _runtime("cpu").scope.text                 # _runtime is bf16
    assert "threads=" not in gpu.hardware_scope("cpu", torch.float32)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert "|threads=1" in _runtime("cpu").scope.text


def test_training_batches_go_to_the_model_device():
    examples = Examples("classification", [[5, 6, 7], [5, 6]], torch.tensor([0, 1]), 0, device="meta")
    inputs, labels = examples.batch([0, 1])
    assert inputs["input_ids"].device.type == "meta" and labels.device.type == "meta"
    inputs, _ = Examples("classification", [[5, 6]], torch.tensor([1]), 0).batch([0])
    assert inputs["input_ids"].device.type == "cpu"
