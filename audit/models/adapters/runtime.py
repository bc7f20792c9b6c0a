"""ModelRuntime: one loaded transformers model and what every capability family shares.

The capability families (classifier, causal LM, masked LM, attentions, gradients) are small
classes over one runtime: it owns the device, dtype, tokenizer facts, batching (length-sorted,
token budget, the OOM cap learned for the adapter's lifetime), the result cache and the
counters (forward passes, truncated inputs). Only code in audit/adapters calls the model.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from audit.models.adapters.base import CachePolicy, Capability, Encoding, ModelKind
from audit.models.adapters.batching import (BatchPolicy, OomCap, autocast_dtype, default_token_budget, inference_context,
                                     pad_batch, run_batched)
from audit.models.adapters.cache import CacheScope, ResultCache, cache_key
from audit.models.adapters.host import to_host
from audit.versions import package_version
from audit.models.adapters.gpu import (GPU_MAX_PADDING_WASTE, activation_bytes_per_token, hardware_scope,
                                       memory_token_budget)

# Bump when a code change alters a number the adapter returns (BOS policy, spacing rules,
# head-only scoring, packing, ...): every cached result of the old semantics then misses.
ADAPTER_SEMANTICS_VERSION = "2"
LOGITS_BYTES_BUDGET = 512 * 2**20   # full-vocabulary float32 logits held per batch


def build_scope(fingerprint: str, dtype: torch.dtype, max_length: int, attn_implementation: str,
                device: str) -> CacheScope:
    import transformers

    return CacheScope(fingerprint=fingerprint, dtype=str(dtype).removeprefix("torch."), max_length=max_length,
                      attn_implementation=attn_implementation or "default", device_type=device.split(":")[0],
                      hardware=hardware_scope(device, dtype),
                      torch_version=torch.__version__, transformers_version=transformers.__version__,
                      package_version=package_version("rai-audit") or "unknown", semantics_version=ADAPTER_SEMANTICS_VERSION)


@contextlib.contextmanager
def gradient_context(device: str, dtype: torch.dtype) -> Iterator[None]:
    """Gradients on (outside inference_mode); autocast on CUDA as for inference. On a CPU gradients
    stay in float32: integrated gradients' completeness check needs more than bf16's 8 bits."""
    half = autocast_dtype(device, dtype) if device.startswith("cuda") else None
    with torch.enable_grad():
        if half is not None:
            with torch.autocast(device_type="cuda", dtype=half):
                yield
        else:
            yield


@dataclass
class ModelRuntime:
    """A loaded model + tokenizer and the shared machinery of every capability family."""

    name: str
    kind: ModelKind
    model: Any
    tokenizer: Any
    device: str
    dtype: torch.dtype
    max_length: int
    batch_size: int | None
    fingerprint: str
    cache: ResultCache
    folder: str = ""
    forward_passes: int = 0
    truncated_inputs: int = 0
    oom_cap: OomCap = field(default_factory=OomCap)

    def __post_init__(self) -> None:
        attn = getattr(self.model.config, "_attn_implementation", None) or "default"
        self.scope = build_scope(self.fingerprint, self.dtype, self.max_length, attn, self.device)

    # ---------------------------------------------------------------- tokenizer facts
    @property
    def pad_id(self) -> int:
        for candidate in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id,
                          getattr(self.model.config, "pad_token_id", None)):
            if isinstance(candidate, list):
                candidate = candidate[0] if candidate else None
            if candidate is not None:
                return int(candidate)
        return 0

    def tokenize(self, texts: Sequence[str], add_special_tokens: bool = True) -> list[list[int]]:
        """Token ids cut to max_length (special tokens kept)."""
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=add_special_tokens, truncation=True,
                                 max_length=self.max_length)
        return [list(ids) for ids in encoded["input_ids"]]

    def encode(self, texts: Sequence[str], add_special_tokens: bool = True) -> list[Encoding]:
        if not texts:
            return []
        full = self.tokenizer(list(texts), add_special_tokens=add_special_tokens, truncation=False,
                              verbose=False)["input_ids"]
        cut = self.tokenizer(list(texts), add_special_tokens=add_special_tokens, truncation=True,
                             max_length=self.max_length, return_offsets_mapping=True,
                             return_special_tokens_mask=True)
        out = []
        for n, ids in enumerate(cut["input_ids"]):
            truncated = len(full[n]) > len(ids)
            special = [bool(s) for s in cut["special_tokens_mask"][n]]
            offsets = [(0, 0) if s else (int(a), int(b)) for (a, b), s in zip(cut["offset_mapping"][n], special)]
            out.append(Encoding(input_ids=list(ids), offsets=offsets, special=special, truncated=truncated))
        return out

    def note_truncation(self, texts: Sequence[str], reserve: int = 0) -> int:
        """Count the texts longer than max_length (minus `reserve` tokens), cached or not, so a run
        reports how many inputs the model saw only in part. Returns this call's count."""
        if not texts:
            return 0
        lengths = self.tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False,
                                 return_length=True)["length"]
        cut = sum(1 for n in lengths if n + reserve > self.max_length)
        self.truncated_inputs += cut
        return cut

    def encode_plain(self, texts: list[str]) -> list[list[int]]:
        """Ids without special tokens and without truncation (causal-LM scoring cuts on the left)."""
        if not texts:
            return []
        return [list(x) for x in self.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]]

    def decode_tokens(self, ids: Sequence[int]) -> list[str]:
        """One readable string per id (decoded alone, so '##ing' and 'Ġthe' come out as text)."""
        return self.tokenizer.batch_decode([[int(i)] for i in ids]) if len(ids) else []

    # ---------------------------------------------------------------- cache
    def cached(self, capability: Capability | str, requests: Sequence[Any], canonical: Callable[[Any], str],
               compute: Callable[[list[Any]], list[Any]], policy: CachePolicy = CachePolicy.PERSIST) -> list[Any]:
        """Answer from the cache, compute each distinct missing request once, store, return in order."""
        name = capability.value if isinstance(capability, Capability) else capability
        keys = [cache_key(self.scope.text, name, canonical(r)) for r in requests]
        found = self.cache.get_many(keys, policy)
        todo: dict[str, Any] = {}
        for key, request in zip(keys, requests):
            if key not in found and key not in todo:
                todo[key] = request
        missing = sum(1 for key in keys if key not in found)
        self.cache.stats.misses += len(todo)
        self.cache.stats.duplicates += missing - len(todo)
        if todo:
            computed = compute(list(todo.values()))
            fresh = dict(zip(todo.keys(), computed))
            self.cache.put_many(fresh, policy)
            found.update(fresh)
        return [found[key] for key in keys]

    def count_uncached(self, n: int) -> None:
        """Capabilities that are not cached (attentions, gradients) still count as model queries."""
        self.cache.stats.misses += n

    # ---------------------------------------------------------------- batching
    def token_budget(self) -> int:
        """Padded tokens per batch: fixed on a CPU; on a GPU sized from the memory free right now."""
        if not self.device.startswith("cuda"):
            return default_token_budget(self.device)
        return memory_token_budget(self.device, activation_bytes_per_token(self.model.config, self.dtype))

    def policy(self, full_vocab_logits: bool = False, rows_per_item: int = 1) -> BatchPolicy:
        budget = self.token_budget() // max(1, rows_per_item)
        if full_vocab_logits:
            vocab = int(getattr(self.model.config, "vocab_size", 0) or len(self.tokenizer))
            budget = max(1, min(budget, LOGITS_BYTES_BUDGET // (4 * max(1, vocab))))
        waste = GPU_MAX_PADDING_WASTE if self.device.startswith("cuda") else None
        return BatchPolicy(batch_size=self.batch_size, token_budget=max(1, budget), max_padding_waste=waste)

    def run(self, items: Sequence[Any], compute: Callable[[list[Any]], list[Any]], *, desc: str,
            lengths: Sequence[int] | None = None, full_vocab_logits: bool = False, grad: bool = False,
            rows_per_item: int = 1, float32: bool = False) -> list[Any]:
        """Length-sorted batches under inference_mode (or with gradients on, for `grad=True`);
        `float32` turns autocast off whatever the compute dtype (numbers that need full precision).
        `compute` may return device tensors: they reach the host after the last batch, in one copy
        (audit.models.adapters.host), so the loop never waits for the device."""
        lengths = [len(x) for x in items] if lengths is None else lengths
        context = gradient_context if grad else inference_context

        def guarded(batch: list[Any]) -> list[Any]:
            with context(self.device, torch.float32 if float32 else self.dtype):
                return compute(batch)

        return to_host(run_batched(items, lengths, guarded, self.policy(full_vocab_logits, rows_per_item),
                                   desc=desc, cap=self.oom_cap))

    def pad(self, seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = pad_batch(seqs, self.pad_id)
        return ids.to(self.device, non_blocking=True), mask.to(self.device, non_blocking=True)

    def forward(self, module: torch.nn.Module, **inputs: Any) -> Any:
        """Every forward pass goes through here (counted, so tests can prove a cache hit ran none)."""
        self.forward_passes += 1
        return module(**inputs)


def canonical_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def stack_rows(rows: list[np.ndarray], width: int) -> np.ndarray:
    return np.stack(rows) if rows else np.zeros((0, width), dtype=np.float32)
