"""Masked-LM capabilities: log-probs of target ids at a masked position, and top-k mask fills."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from audit.models.adapters.base import CachePolicy, Capability, Fill, MaskedQuery
from audit.models.adapters.head import OutputHead
from audit.models.adapters.host import to_device
from audit.models.adapters.runtime import ModelRuntime, canonical_json
from audit.errors import DataError


@dataclass(frozen=True)
class MlmJob:
    """One unique token sequence and what to read off the MLM head at some of its positions."""

    input_ids: tuple[int, ...]
    positions: tuple[int, ...]
    targets: tuple[tuple[int, ...], ...] | None = None   # masked_scores: gather these ids per position
    top_k: int = 0                                       # mask_fill: top-k ids per position


class MaskedOps:
    """Masked-LM scoring over one runtime: one forward per distinct sequence, head only at masks."""

    def __init__(self, rt: ModelRuntime, head: OutputHead) -> None:
        self.rt = rt
        self.head = head

    def masked_scores(self, queries: Sequence[MaskedQuery]) -> list[np.ndarray]:
        return self.rt.cached(Capability.MASKED_SCORES, queries,
                              lambda q: canonical_json([list(q.input_ids), q.position, list(q.target_ids)]),
                              self._masked_scores_uncached)

    def mask_fill(self, texts: Sequence[str], top_k: int = 5) -> list[list[Fill]]:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        self.rt.note_truncation(texts)
        return self.rt.cached(Capability.MASK_FILL, texts, lambda t: canonical_json([t, top_k]),
                              lambda todo: self._mask_fill_uncached(todo, top_k), CachePolicy.PERSIST)

    def _masked_scores_uncached(self, queries: list[MaskedQuery]) -> list[np.ndarray]:
        for n, q in enumerate(queries):
            if not 0 <= q.position < len(q.input_ids):
                raise DataError(f"masked_scores query {n}: position {q.position} is outside its "
                                f"{len(q.input_ids)} tokens")
        grouped: dict[tuple[int, ...], dict[int, set[int]]] = {}
        for q in queries:
            grouped.setdefault(tuple(q.input_ids), {}).setdefault(q.position, set()).update(q.target_ids)
        jobs = []
        for seq, by_pos in grouped.items():
            positions = tuple(sorted(by_pos))
            jobs.append(MlmJob(self._check_length(seq), positions,
                               targets=tuple(tuple(sorted(by_pos[p])) for p in positions)))
        answers = self.rt.run(jobs, self._batch, desc="masked_scores", lengths=[len(j.input_ids) for j in jobs])
        table: dict[tuple[tuple[int, ...], int], dict[int, float]] = {}
        for job, per_pos in zip(jobs, answers):
            for pos, targets, values in zip(job.positions, job.targets or (), per_pos):
                table[(job.input_ids, pos)] = dict(zip(targets, values.tolist()))
        return [np.array([table[(tuple(q.input_ids), q.position)][t] for t in q.target_ids], dtype=np.float32)
                for q in queries]

    def _mask_fill_uncached(self, texts: list[str], top_k: int) -> list[list[Fill]]:
        mask_id = self.rt.tokenizer.mask_token_id
        jobs = []
        for n, seq in enumerate(self.rt.tokenize(texts)):
            positions = [i for i, t in enumerate(seq) if t == mask_id]
            if len(positions) != 1:
                raise DataError(f"mask_fill text {n} ({texts[n][:60]!r}) must contain the mask token "
                                f"{self.rt.tokenizer.mask_token!r} exactly once (found {len(positions)})")
            jobs.append(MlmJob(tuple(seq), (positions[0],), top_k=top_k))
        answers = self.rt.run(jobs, self._batch, desc="mask_fill", lengths=[len(j.input_ids) for j in jobs])
        fills = []
        for per_pos in answers:
            ids, probs = per_pos[0]
            tokens = self.rt.decode_tokens(ids.tolist())
            fills.append([Fill(token=t.strip(), token_id=int(i), prob=float(p))
                          for t, i, p in zip(tokens, ids, probs)])
        return fills

    def _check_length(self, seq: tuple[int, ...]) -> tuple[int, ...]:
        if len(seq) > self.rt.max_length:
            raise DataError(f"masked_scores: a query has {len(seq)} tokens, more than max_length "
                            f"{self.rt.max_length}")
        return seq

    def _batch(self, jobs: list[MlmJob]) -> list[list[Any]]:
        """Device tensors per job and position (the runtime copies them to the host after the last batch):
        the targets' log-probs, gathered for the whole batch at once, or the top-k ids and probabilities."""
        ids, mask = self.rt.pad([job.input_ids for job in jobs])
        rows = to_device([r for r, job in enumerate(jobs) for _ in job.positions], ids.device)
        cols = to_device([p for job in jobs for p in job.positions], ids.device)
        logprobs = self.head.logprobs_at(ids, mask, rows, cols)
        per_row = [job.targets[n] if job.targets is not None else None
                   for job in jobs for n in range(len(job.positions))]      # one logprobs row per position
        wanted = [(k, t) for k, targets in enumerate(per_row) if targets is not None for t in targets]
        picked = logprobs[to_device([k for k, _ in wanted], ids.device),      # every target's log-prob in
                          to_device([t for _, t in wanted], ids.device)]      # one gather (exact)
        results, k, start = [], 0, 0
        for job in jobs:
            per_pos: list[Any] = []
            for n in range(len(job.positions)):
                if job.targets is not None:
                    per_pos.append(picked[start:start + len(job.targets[n])])
                    start += len(job.targets[n])
                else:
                    top = torch.topk(logprobs[k], job.top_k)
                    per_pos.append((top.indices, top.values.exp()))
                k += 1
            results.append(per_pos)
        return results
