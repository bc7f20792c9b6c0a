"""A short throughput measurement per model on this machine, stored in the cache for later plans.

Seconds per padded token are fitted as a + b*L (L the padded length: attention grows with it) from
two inference batches of the adapter's own token budget (the batches real runs form: 4,096 padded
tokens on a CPU, where per-token cost is a quarter lower than at 1,024), and the forward+backward cost
as a ratio to forward. Times are wall-clock medians of repeats: what the run will wait for. (CPU
time over the thread count undercounts it by a third when idle OpenMP threads sleep, OMP_WAIT_POLICY=PASSIVE.)
Two costs that token counts miss are measured too: the fixed cost of one forward call (what many
small batches, e.g. one decoding step per generated token, pay) and the full-vocabulary output head
with its log-softmax per scored position (a causal LM's head is a fifth of its FLOPs, and the
adapter applies it only where a token is scored), and the per-row cost of the seeded sampler
(softmax and a sort over the vocabulary at every sampled decoding step).
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from audit.io import atomic_write_text
from audit.models.adapters.batching import default_token_budget, inference_context
from audit.models.adapters.generate_ops import SeededSampler
from audit.models.adapters.runtime import gradient_context

CALIBRATION_FILE = "plan_calibration.json"
CALIBRATION_VERSION = "6"        # 4: per-call and head costs; 5: decode slope; 6: wall time, budget-sized, sampler
LENGTHS = (32, 128)                    # padded lengths of the two inference batches (same token count)
BACKWARD_SHAPE = (32, 32)              # gradient batches hold IG's steps x a sentence: ~1k padded tokens
CALL_SHAPE = (8, 1)                    # one decoding step of a small batch: almost all fixed cost
HEAD_POSITIONS = 2048                  # scored positions of one full-vocabulary batch (its logits: 400 MB)
DECODE_SHAPE = (8, 16, 9)              # (batch, prompt length, new tokens) of one timed `generate`
DECODE_WIDE_BATCH = 32                 # a second batch size: the per-row cost of a decoding step
NEW_SHAPE_LENGTHS = (40, 56, 72)       # fresh shapes (a quarter of the token budget) for the first-call cost


@dataclass(frozen=True)
class Throughput:
    """Seconds per padded token = per_token + per_token_per_length * L; backward = ratio x forward;
    plus `per_call` seconds per forward call and `head_per_position` per full-vocabulary scored position."""

    per_token: float
    per_token_per_length: float
    backward_ratio: float
    threads: int
    measured_s: float
    per_call: float = 0.0
    head_per_position: float = 0.0
    decode_step: float = 0.0             # one `generate` decoding step at batch DECODE_SHAPE[0] (causal LMs)
    decode_per_row: float = 0.0          # and what each further row adds to a step (small-GEMM regime)
    sample_per_row: float = 0.0          # the seeded sampler's softmax + vocabulary sort, per row and step
    optimizer_per_param: float = 0.0     # one AdamW step, per trainable parameter (fine-tunes)
    new_shape: float = 0.0               # the first call at a (batch, length) shape: kernels built for it

    def forward_seconds(self, padded_tokens: float, length: float) -> float:
        return padded_tokens * max(0.0, self.per_token + self.per_token_per_length * length)


def machine_key(fingerprint: str, dtype: str, device: str) -> str:
    cpu = platform.processor() or platform.machine()
    return "|".join((CALIBRATION_VERSION, fingerprint, dtype, device, cpu, str(torch.get_num_threads())))


def _time(call: Callable[[], Any], repeats: int = 3, min_seconds: float = 0.5, max_repeats: int = 15) -> float:
    """Wall-clock seconds of one call after a warm-up: the median of at least `repeats` calls, more for
    short calls until `min_seconds` have passed (one short call on shared cores is noise, and a run
    waits for typical calls, not for the luckiest one)."""
    call()                                     # warm-up (allocations, kernels)
    times: list[float] = []
    began = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - began < min_seconds and len(times) < max_repeats):
        wall = time.perf_counter()
        call()
        times.append(time.perf_counter() - wall)
    return statistics.median(times)


def inference_shapes(device: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """(batch, length) of the two timed inference batches: the adapter's padded-token budget at LENGTHS."""
    budget = default_token_budget(device)
    return tuple((max(1, budget // length), length) for length in LENGTHS)  # type: ignore[return-value]


def measure(model: torch.nn.Module, vocab: int, device: str, dtype: torch.dtype = torch.float32) -> Throughput:
    """Time inference at two lengths (same token count) and one forward+backward, in the adapter's
    own compute contexts (bf16 autocast where it uses it)."""
    started = time.perf_counter()
    gen = torch.Generator().manual_seed(0)

    def batch(n: int, length: int) -> dict[str, torch.Tensor]:
        ids = torch.randint(5, max(6, vocab), (n, length), generator=gen).to(device)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    per_token = []
    body = getattr(model, "base_model", model)     # adapters apply output heads only where they are needed
    shapes = inference_shapes(device)
    for n, length in shapes:
        inputs = batch(n, length)
        with inference_context(device, dtype):
            per_token.append(_time(lambda: body(**inputs)) / (n * length))
    (_, l1), (_, l2) = shapes
    slope = max(0.0, (per_token[1] - per_token[0]) / (l2 - l1))
    base = max(per_token[0] - slope * l1, per_token[0] * 0.1)
    n, length = CALL_SHAPE
    inputs = batch(n, length)
    with inference_context(device, dtype):
        per_call = max(0.0, _time(lambda: body(**inputs)) - base * n * length)
        new_shape = _new_shape_seconds(lambda n, length: body(**batch(n, length)), device)
    n, length = BACKWARD_SHAPE
    inputs = batch(n, length)
    head = _vocabulary_head(model)

    def step() -> None:                # as the gradient path runs: the head only where a score is read
        if head is not None:
            out = head(body(**inputs)[0][:, -1])
        else:
            out = model(**inputs)
            out = out.logits if hasattr(out, "logits") else out[0]
        out.float().mean().backward()
        model.zero_grad(set_to_none=True)

    with gradient_context(device, dtype):
        both = _time(step)
    forward = per_call + (base + slope * length) * n * length      # costed as _batch_cost costs a batch
    return Throughput(per_token=base, per_token_per_length=slope, backward_ratio=max(1.0, both / forward),
                      threads=torch.get_num_threads(), measured_s=round(time.perf_counter() - started, 2),
                      per_call=per_call, head_per_position=_head_seconds(model, device, dtype),
                      sample_per_row=_sample_seconds(model, vocab, device),
                      optimizer_per_param=_optimizer_seconds(model), new_shape=new_shape,
                      **_decode_costs(model, vocab, device, dtype))


def _new_shape_seconds(forward: Callable[[int, int], Any], device: str) -> float:
    """What a forward at a shape not seen before costs on top of a repeat (CPU kernels, e.g. oneDNN's
    bf16 primitives, are built per shape: a run over many sentence lengths pays it per batch shape)."""
    extra = []
    budget = default_token_budget(device) // 4
    for length in NEW_SHAPE_LENGTHS:
        n = max(1, budget // length)
        began = time.perf_counter()
        forward(n, length)
        first = time.perf_counter() - began
        extra.append(first - _time(lambda: forward(n, length), repeats=2, min_seconds=0.0))
    return max(0.0, statistics.median(extra))


def _optimizer_seconds(model: torch.nn.Module) -> float:
    """Seconds per parameter of one AdamW step (as train_plain steps it), on the calibration copy."""
    params = [p for p in model.parameters() if p.is_floating_point()]
    count = sum(p.numel() for p in params)
    if not count:
        return 0.0
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    try:
        return _time(optimizer.step, min_seconds=0.0) / count
    finally:
        for p in params:
            p.grad = None
        del optimizer


def _generates(model: torch.nn.Module) -> bool:
    can_generate = getattr(model, "can_generate", None)
    return callable(can_generate) and bool(can_generate())


def _sample_seconds(model: torch.nn.Module, vocab: int, device: str) -> float:
    """Seconds per row of one SeededSampler step (0 for models that do not generate)."""
    if not _generates(model):
        return 0.0
    rows = DECODE_WIDE_BATCH
    scores = torch.randn(rows, max(2, vocab), generator=torch.Generator().manual_seed(3)).to(device)
    sampler = SeededSampler([torch.Generator().manual_seed(i) for i in range(rows)], temperature=1.0, top_p=0.9)
    return _time(lambda: sampler(scores, scores)) / rows


def _decode_costs(model: torch.nn.Module, vocab: int, device: str, dtype: torch.dtype) -> dict[str, float]:
    """decode_step at DECODE_SHAPE's batch, and the per-row slope up to DECODE_WIDE_BATCH rows."""
    narrow = _decode_step_seconds(model, vocab, device, dtype)
    if narrow <= 0:
        return {"decode_step": 0.0, "decode_per_row": 0.0}
    wide = _decode_step_seconds(model, vocab, device, dtype, rows=DECODE_WIDE_BATCH)
    slope = max(0.0, (wide - narrow) / (DECODE_WIDE_BATCH - DECODE_SHAPE[0]))
    return {"decode_step": narrow, "decode_per_row": slope}


def _decode_step_seconds(model: torch.nn.Module, vocab: int, device: str, dtype: torch.dtype,
                         rows: int = DECODE_SHAPE[0]) -> float:
    """Seconds per decoding step of transformers' `generate` (KV cache, logits processing), from the
    difference between generating DECODE_SHAPE's new tokens and one; 0 for models that do not generate."""
    if not _generates(model):
        return 0.0
    _, length, new = DECODE_SHAPE
    ids = torch.randint(5, max(6, vocab), (rows, length), generator=torch.Generator().manual_seed(2)).to(device)
    mask = torch.ones_like(ids)

    def run(tokens: int) -> None:
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=tokens, min_new_tokens=tokens,
                       do_sample=False, pad_token_id=0)
    try:
        with inference_context(device, dtype):
            return max(0.0, (_time(lambda: run(new), repeats=1) - _time(lambda: run(1), repeats=1)) / (new - 1))
    except Exception:  # noqa: BLE001 - a model whose generate needs more than ids and a mask
        return 0.0


def _vocabulary_head(model: torch.nn.Module) -> torch.nn.Module | None:
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return head if head is not None and getattr(head, "in_features", None) else None


def _head_seconds(model: torch.nn.Module, device: str, dtype: torch.dtype) -> float:
    """Seconds per scored position as the adapter scores it: the output head, a float32 log-softmax,
    the target's log-prob and the argmax (memory-bound at a batch's size, hence 2,048 positions)."""
    head = _vocabulary_head(model)
    if head is None:
        return 0.0
    gen = torch.Generator().manual_seed(1)
    hidden = torch.randn(HEAD_POSITIONS, int(head.in_features), generator=gen).to(device)
    targets = torch.randint(0, int(head.out_features), (HEAD_POSITIONS, 1), generator=gen).to(device)

    def score() -> None:
        logprobs = torch.log_softmax(head(hidden).float(), dim=-1)
        logprobs.gather(1, targets)
        logprobs.argmax(dim=-1)

    with inference_context(device, dtype):
        return _time(score) / HEAD_POSITIONS


def load_calibrations(cache_dir: Path) -> dict[str, Throughput]:
    path = Path(cache_dir) / CALIBRATION_FILE
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text())
        return {k: Throughput(**v) for k, v in raw.items()}
    except (ValueError, TypeError):
        return {}


def store_calibration(cache_dir: Path, key: str, value: Throughput) -> None:
    found = load_calibrations(cache_dir)
    found[key] = value
    atomic_write_text(Path(cache_dir) / CALIBRATION_FILE,
                      json.dumps({k: asdict(v) for k, v in found.items()}, indent=1, sort_keys=True))
