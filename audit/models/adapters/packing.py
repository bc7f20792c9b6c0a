"""Shared-context packing for multiple-choice log-likelihoods on causal LMs.

A multiple-choice question asks for log p(choice_k | context) for several choices of one long
context. Instead of running the context once per choice, one sequence holds the context
followed by every choice; a 4D attention mask lets each choice see the context and its own
earlier tokens only, and position ids restart after the context for every choice. The
result equals scoring each (context, choice) separately, at a fraction of the compute
(BBQ: ~90 context tokens, 3 choices of ~4 tokens → ~2.6x fewer tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

CONTEXT_SEGMENT = -1
PAD_SEGMENT = -2


@dataclass(frozen=True)
class PackedJob:
    """One shared context and the continuations scored against it."""

    context: tuple[int, ...]
    continuations: tuple[tuple[int, ...], ...]

    @property
    def input_ids(self) -> tuple[int, ...]:
        return self.context + tuple(t for cont in self.continuations for t in cont)

    def layout(self) -> tuple[list[int], list[int]]:
        """Position id and segment (context = -1, choice index otherwise) of every token."""
        c = len(self.context)
        positions, segments = list(range(c)), [CONTEXT_SEGMENT] * c
        for k, cont in enumerate(self.continuations):
            positions += range(c, c + len(cont))
            segments += [k] * len(cont)
        return positions, segments

    def predictor_rows(self) -> list[list[int]]:
        """For each continuation, the rows whose hidden state predicts each of its tokens."""
        c = len(self.context)
        rows, start = [], c
        for cont in self.continuations:
            rows.append([c - 1] + list(range(start, start + len(cont) - 1)))
            start += len(cont)
        return rows


def packed_inputs(jobs: list[PackedJob], pad_id: int, dtype: torch.dtype
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """input_ids, position_ids and an additive 4D mask (batch, 1, T, T) for a batch of packed jobs."""
    length = max(len(job.input_ids) for job in jobs)
    ids = torch.full((len(jobs), length), pad_id, dtype=torch.long)
    positions = torch.zeros((len(jobs), length), dtype=torch.long)
    segments = torch.full((len(jobs), length), PAD_SEGMENT, dtype=torch.long)
    for b, job in enumerate(jobs):
        seq = job.input_ids
        pos, seg = job.layout()
        ids[b, :len(seq)] = torch.tensor(seq)
        positions[b, :len(seq)] = torch.tensor(pos)
        segments[b, :len(seq)] = torch.tensor(seg)
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    seg_q, seg_k = segments[:, :, None], segments[:, None, :]
    allowed = causal & (seg_k != PAD_SEGMENT) & ((seg_k == CONTEXT_SEGMENT) | (seg_k == seg_q))
    allowed |= torch.eye(length, dtype=torch.bool)  # padding rows attend to themselves (no NaN)
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    return ids, positions, mask[:, None]
