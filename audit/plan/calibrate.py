"""A short throughput measurement per model on this machine, stored in the cache for later plans.

Seconds per padded token are fitted as a + b*L (L the padded length: attention grows with it) from
two inference batches of the same token count, and the forward+backward cost as a ratio to forward.
Two costs that token counts miss are measured too: the fixed cost of one forward call (what many
small batches, e.g. one decoding step per generated token, pay) and the full-vocabulary output head
with its log-softmax per scored position (a causal LM's head is a fifth of its FLOPs, and the
adapter applies it only where a token is scored).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from audit.io import atomic_write_text
from audit.models.adapters.batching import inference_context
from audit.models.adapters.runtime import gradient_context

CALIBRATION_FILE = "plan_calibration.json"
CALIBRATION_VERSION = "5"        # 2: idle-machine seconds; 4: per-call and head costs; 5: decode slope
SHAPES = ((32, 32), (8, 128))          # (batch, length): 1024 padded tokens each, like real batches
BACKWARD_SHAPE = (8, 32)
CALL_SHAPE = (8, 1)                    # one decoding step of a small batch: almost all fixed cost
HEAD_POSITIONS = 512
DECODE_SHAPE = (8, 16, 9)              # (batch, prompt length, new tokens) of one timed `generate`
DECODE_WIDE_BATCH = 32                 # a second batch size: the per-row cost of a decoding step


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

    def forward_seconds(self, padded_tokens: float, length: float) -> float:
        return padded_tokens * max(0.0, self.per_token + self.per_token_per_length * length)


def machine_key(fingerprint: str, dtype: str, device: str) -> str:
    cpu = platform.processor() or platform.machine()
    return "|".join((CALIBRATION_VERSION, fingerprint, dtype, device, cpu, str(torch.get_num_threads())))


def _time(call: Callable[[], Any], repeats: int = 2) -> float:
    """Seconds of one call as on an otherwise idle machine: the smaller of the wall time and the
    process CPU time over the torch threads (on shared cores the wall time counts other people's work)."""
    call()                                     # warm-up (allocations, kernels)
    best = float("inf")
    threads = max(1, torch.get_num_threads())
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        best = min(best, time.perf_counter() - wall, (time.process_time() - cpu) / threads)
    return best


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
    for n, length in SHAPES:
        inputs = batch(n, length)
        with inference_context(device, dtype):
            per_token.append(_time(lambda: body(**inputs)) / (n * length))
    (_, l1), (_, l2) = SHAPES
    slope = max(0.0, (per_token[1] - per_token[0]) / (l2 - l1))
    base = max(per_token[0] - slope * l1, per_token[0] * 0.1)
    n, length = BACKWARD_SHAPE
    inputs = batch(n, length)

    def step() -> None:
        out = model(**inputs)
        logits = out.logits if hasattr(out, "logits") else out[0]
        logits.float().mean().backward()
        model.zero_grad(set_to_none=True)

    with gradient_context(device, dtype):
        both = _time(step, repeats=1)
    forward = (base + slope * length) * n * length
    n, length = CALL_SHAPE
    inputs = batch(n, length)
    with inference_context(device, dtype):
        per_call = max(0.0, _time(lambda: body(**inputs), repeats=3) - base * n * length)
    return Throughput(per_token=base, per_token_per_length=slope, backward_ratio=max(1.0, both / forward),
                      threads=torch.get_num_threads(), measured_s=round(time.perf_counter() - started, 2),
                      per_call=per_call, head_per_position=_head_seconds(model, device, dtype),
                      **_decode_costs(model, vocab, device, dtype))


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
    can_generate = getattr(model, "can_generate", None)
    if not callable(can_generate) or not can_generate():
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


def _head_seconds(model: torch.nn.Module, device: str, dtype: torch.dtype) -> float:
    """Seconds per position of the output head + float32 log-softmax, for models with a vocabulary head."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    width = getattr(head, "in_features", None)
    if head is None or not width:
        return 0.0
    hidden = torch.randn(HEAD_POSITIONS, int(width), generator=torch.Generator().manual_seed(1)).to(device)
    with inference_context(device, dtype):
        return _time(lambda: torch.log_softmax(head(hidden).float(), dim=-1)) / HEAD_POSITIONS


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
