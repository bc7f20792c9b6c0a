"""Length-sorted batching with a token budget and out-of-memory back-off.

Generic on purpose (no transformers import): the adapter hands over items, their token
lengths and a `compute(batch) -> results` function; this module decides which items go
together, halves the batch on CUDA out-of-memory, and returns results in caller order.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence, TypeVar

import torch
from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")

CPU_TOKEN_BUDGET = 4_096       # padded tokens per batch on CPU: bigger batches buy nothing, padding costs
GPU_TOKEN_BUDGET = 65_536      # padded tokens per batch on a GPU (OOM back-off handles the rest)
PROGRESS_MIN_BATCHES = 4       # show a progress bar only for calls with more batches than this


@dataclass(frozen=True)
class BatchPolicy:
    """How many items go into one batch: a fixed count, or a padded-token budget ("auto")."""

    batch_size: int | None      # fixed items per batch; None = use the token budget
    token_budget: int           # max padded tokens (items x longest length) per batch
    max_items: int = 4096       # hard cap, even for very short items
    max_padding_waste: float | None = None   # GPU: end a batch before padding exceeds this share of it

    def size_for(self, padded_length: int) -> int:
        if self.batch_size is not None:
            return max(1, self.batch_size)
        return max(1, min(self.max_items, self.token_budget // max(1, padded_length)))


def length_bucket(length: int) -> int:
    """The power of two at or above `length`: caps learned at one length are not used at another."""
    return 1 << max(0, int(length) - 1).bit_length()


@dataclass
class OomCap:
    """The largest batch, in padded tokens, that fitted after a CUDA out-of-memory error, per request
    kind and length bucket (a cap learned on short classify calls says nothing about long
    full-vocabulary scoring). One per adapter, so what one call learned spares later calls the failure.
    """

    tokens: dict[tuple[str, int], int] = field(default_factory=dict)
    items: int | None = None        # the item count of the last cap learned (for logs)

    def limit(self, size: int, padded_length: int = 1, kind: str = "batches") -> int:
        cap = self.tokens.get((kind, length_bucket(padded_length)))
        return size if cap is None else max(1, min(size, cap // max(1, padded_length)))

    def learn(self, items: int, padded_length: int, kind: str = "batches") -> None:
        self.tokens[(kind, length_bucket(padded_length))] = max(1, items) * max(1, padded_length)
        self.items = max(1, items)


def low_waste_count(lengths: Sequence[int], max_waste: float | None) -> int:
    """How many of `lengths` (sorted longest first) fit one batch with padding <= max_waste of it."""
    if max_waste is None or not lengths:
        return len(lengths)
    longest, total = max(1, lengths[0]), 0
    for count, length in enumerate(lengths, start=1):
        total += length
        if 1 - total / (count * longest) > max_waste:
            return count - 1
    return len(lengths)


def batch_plan(lengths: Sequence[int], policy: BatchPolicy, cap: OomCap | None = None,
               kind: str = "batches") -> list[list[int]]:
    """The batches (item indices) run_batched would form, for planning and for tests (no OOM)."""
    cap = cap if cap is not None else OomCap()
    order, batches, start = length_order(lengths), [], 0
    while start < len(order):
        chunk = _next_chunk(order, start, lengths, policy, cap, kind)
        batches.append(chunk)
        start += len(chunk)
    return batches


def _next_chunk(order: list[int], start: int, lengths: Sequence[int], policy: BatchPolicy, cap: OomCap,
                kind: str) -> list[int]:
    longest = lengths[order[start]]
    chunk = order[start:start + cap.limit(policy.size_for(longest), longest, kind)]
    return chunk[:max(1, low_waste_count([lengths[i] for i in chunk], policy.max_padding_waste))]


def default_token_budget(device: str) -> int:
    return GPU_TOKEN_BUDGET if device.startswith("cuda") else CPU_TOKEN_BUDGET


def is_oom(exc: BaseException) -> bool:
    """True for a CUDA out-of-memory error (the only error worth retrying with a smaller batch)."""
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "CUDA out of memory" in str(exc)


def length_order(lengths: Sequence[int]) -> list[int]:
    """Indices sorted longest first (the largest batch runs first, so OOM shows up early)."""
    return sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))


def run_batched(items: Sequence[T], lengths: Sequence[int], compute: Callable[[list[T]], Sequence[R]],
                policy: BatchPolicy, *, desc: str = "batches", cap: OomCap | None = None) -> list[R]:
    """Run `compute` over length-sorted batches of `items`; results come back in the caller's order.

    On CUDA out-of-memory the failing batch is retried with half as many items, and the smaller
    size is kept in `cap` (the adapter's, so it outlives this call); a single item that does not
    fit re-raises. GPU memory is released after the `except` block, once the failed batch's
    tensors (held by the traceback) are gone.
    """
    if len(items) != len(lengths):
        raise ValueError(f"{len(items)} items but {len(lengths)} lengths")
    cap = cap if cap is not None else OomCap()
    order = length_order(lengths)
    results: list[R | None] = [None] * len(items)
    first_size = policy.size_for(lengths[order[0]]) if order else 1
    show = len(items) > PROGRESS_MIN_BATCHES * first_size
    with tqdm(total=len(items), desc=desc, unit="item", disable=None if show else True, leave=False) as bar:
        start = 0
        while start < len(order):
            chunk = _next_chunk(order, start, lengths, policy, cap, desc)
            failed = False
            try:
                out = compute([items[i] for i in chunk])
            except Exception as exc:  # noqa: BLE001 - only OOM is handled, the rest re-raises
                if not is_oom(exc) or len(chunk) == 1:
                    raise
                cap.learn(len(chunk) // 2, lengths[chunk[0]], desc)
                failed = True
            if failed:
                _release_cuda_memory()
                continue
            if len(out) != len(chunk):
                raise RuntimeError(f"compute returned {len(out)} results for a batch of {len(chunk)}")
            for i, value in zip(chunk, out):
                results[i] = value
            start += len(chunk)
            bar.update(len(chunk))
    return results  # type: ignore[return-value]


def _release_cuda_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token id lists into (input_ids, attention_mask) int64 tensors."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, :len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, :len(seq)] = 1
    return ids, mask


def autocast_dtype(device: str, dtype: torch.dtype) -> torch.dtype | None:
    """The dtype matrix multiplications run in, when it is not the weights' float32.

    CUDA: bf16 or fp16. CPU: bf16 only (CPUs with AMX-BF16 run it 3-4x faster than fp32, and
    autocast keeps normalisation and softmax in fp32); fp16 is not autocast on a CPU.
    """
    if dtype == torch.bfloat16 or (dtype == torch.float16 and device.startswith("cuda")):
        return dtype
    return None


@contextlib.contextmanager
def inference_context(device: str, dtype: torch.dtype) -> Iterator[None]:
    """inference_mode everywhere; autocast when the compute dtype is a half type (see autocast_dtype)."""
    half = autocast_dtype(device, dtype)
    with torch.inference_mode():
        if half is not None:
            with torch.autocast(device_type=device.split(":")[0], dtype=half):
                yield
        else:
            yield
