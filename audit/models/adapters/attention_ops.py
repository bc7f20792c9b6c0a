"""Attention maps (every kind of model): (layers, heads, seq, seq) per text.

Not cached: the maps are too large to keep. transformers' sdpa attention returns no weights,
so the model switches to eager attention for the call and back afterwards.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from audit.models.adapters.base import AttentionResult
from audit.models.adapters.runtime import ModelRuntime

ATTN_EAGER = "eager"


class AttentionOps:
    def __init__(self, rt: ModelRuntime) -> None:
        self.rt = rt

    def attentions(self, texts: Sequence[str]) -> list[AttentionResult]:
        if not texts:
            return []
        self.rt.note_truncation(texts)
        self.rt.count_uncached(len(texts))
        seqs = self.rt.tokenize(texts)
        model = self.rt.model
        previous = getattr(model.config, "_attn_implementation", None)
        if previous != ATTN_EAGER:
            model.set_attn_implementation(ATTN_EAGER)
        try:
            maps = self.rt.run(seqs, self._batch, desc="attentions")
        finally:
            if previous and previous != ATTN_EAGER:
                model.set_attn_implementation(previous)
        return [AttentionResult(tokens=self.rt.decode_tokens(s), attentions=m) for s, m in zip(seqs, maps)]

    def _batch(self, seqs: list[list[int]]) -> list[np.ndarray]:
        ids, mask = self.rt.pad(seqs)
        out = self.rt.forward(self.rt.model, input_ids=ids, attention_mask=mask, output_attentions=True)
        stacked = torch.stack([a.float() for a in out.attentions], dim=1)  # (batch, layers, heads, L, L)
        return [stacked[row, :, :, :len(s), :len(s)].cpu().numpy() for row, s in enumerate(seqs)]
