"""Classifier and encoder capabilities: classify (texts or token ids), per-example losses, embed."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from audit.models.adapters.base import CachePolicy, Capability, IdsInput, LossRequest
from audit.models.adapters.host import to_device
from audit.models.adapters.runtime import ModelRuntime, canonical_json, stack_rows
from audit.errors import DataError

LOGITS = "classify_logits"    # cache namespace of raw logits (probabilities derive from them)
LOGITS_FP32 = "classify_logits_fp32"   # logits computed without autocast: losses derive from them


class ClassifierOps:
    """Sequence-classifier calls over one runtime; probabilities and losses come from cached logits."""

    def __init__(self, rt: ModelRuntime) -> None:
        self.rt = rt

    @property
    def labels(self) -> list[str]:
        config = self.rt.model.config
        id2label = getattr(config, "id2label", None) or {}
        n = getattr(config, "num_labels", len(id2label))
        return [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(n)]

    def logits(self, texts: Sequence[str], policy: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        self.rt.note_truncation(texts)
        rows = self.rt.cached(LOGITS, texts, canonical_json, self._logits_uncached, policy)
        return stack_rows(rows, len(self.labels))

    def classify(self, texts: Sequence[str], policy: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        return softmax(self.logits(texts, policy))

    def classify_ids(self, inputs: Sequence[IdsInput], policy: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        for n, item in enumerate(inputs):
            if not item.input_ids:
                raise DataError(f"classify_ids input {n} has no tokens")
            if len(item.input_ids) > self.rt.max_length:
                raise DataError(f"classify_ids input {n} has {len(item.input_ids)} tokens, more than "
                                f"max_length {self.rt.max_length}")
            if item.attention_mask is not None and len(item.attention_mask) != len(item.input_ids):
                raise DataError(f"classify_ids input {n}: attention_mask has {len(item.attention_mask)} "
                                f"entries for {len(item.input_ids)} tokens")
        rows = self.rt.cached(Capability.CLASSIFY_IDS, inputs,
                              lambda r: canonical_json([list(r.input_ids), list(r.attention_mask or ())]),
                              self._ids_uncached, policy)
        return softmax(stack_rows(rows, len(self.labels)))

    def losses(self, requests: Sequence[LossRequest]) -> np.ndarray:
        """Cross-entropy (nats) of each gold label, from float32 logits (no bf16 autocast, whatever the
        compute dtype) taken to float64 (members' losses near 0 must not all round to the same value,
        or a membership attack sees ties)."""
        n_labels = len(self.labels)
        for n, r in enumerate(requests):
            if r.label is None or not 0 <= r.label < n_labels:
                raise DataError(f"losses request {n}: label {r.label!r} is not a label index 0..{n_labels - 1}")
        texts = [r.text for r in requests]
        self.rt.note_truncation(texts)
        rows = self.rt.cached(LOGITS_FP32, texts, canonical_json, self._logits_fp32_uncached, CachePolicy.PERSIST)
        logits = stack_rows(rows, n_labels).astype(np.float64)
        labels = np.array([r.label for r in requests], dtype=np.int64)
        log_norm = _logsumexp(logits)
        return log_norm - logits[np.arange(len(requests)), labels] if len(requests) else np.zeros(0)

    def embed(self, texts: Sequence[str], policy: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        self.rt.note_truncation(texts)
        rows = self.rt.cached(Capability.EMBED, texts, canonical_json, self._embed_uncached, policy)
        return stack_rows(rows, int(getattr(self.rt.model.config, "hidden_size", 0)))

    # ---------------------------------------------------------------- uncached batches
    def _logits_uncached(self, texts: list[str]) -> list[np.ndarray]:
        return self.rt.run(self.rt.tokenize(texts), self._logits_batch, desc="classify")

    def _logits_fp32_uncached(self, texts: list[str]) -> list[np.ndarray]:
        return self.rt.run(self.rt.tokenize(texts), self._logits_batch, desc="losses", float32=True)

    def _logits_batch(self, seqs: list[list[int]]) -> list[torch.Tensor]:
        ids, mask = self.rt.pad(seqs)
        logits = self.rt.forward(self.rt.model, input_ids=ids, attention_mask=mask).logits
        return list(logits.float())          # device rows: the runtime copies them after the last batch

    def _ids_uncached(self, inputs: list[IdsInput]) -> list[np.ndarray]:
        return self.rt.run(inputs, self._ids_batch, desc="classify_ids", lengths=[len(i.input_ids) for i in inputs])

    def _ids_batch(self, inputs: list[IdsInput]) -> list[torch.Tensor]:
        ids, mask = self.rt.pad([i.input_ids for i in inputs])
        for row, item in enumerate(inputs):
            if item.attention_mask is not None:
                mask[row, :len(item.attention_mask)] = to_device(item.attention_mask, mask.device)
        logits = self.rt.forward(self.rt.model, input_ids=ids, attention_mask=mask).logits
        return list(logits.float())          # device rows: the runtime copies them after the last batch

    def _embed_uncached(self, texts: list[str]) -> list[np.ndarray]:
        return self.rt.run(self.rt.tokenize(texts), self._embed_batch, desc="embed")

    def _embed_batch(self, seqs: list[list[int]]) -> list[torch.Tensor]:
        ids, mask = self.rt.pad(seqs)
        hidden = self.rt.forward(self.rt.model.base_model, input_ids=ids, attention_mask=mask)[0].float()
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return list(pooled)


def _logsumexp(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=1)
    return top + np.log(np.exp(x - top[:, None]).sum(axis=1))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, returned as float32 probabilities."""
    x = logits.astype(np.float64)
    if x.size == 0:
        return x.astype(np.float32)
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)
