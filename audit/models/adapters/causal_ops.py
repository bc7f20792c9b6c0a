"""Causal-LM capabilities: loglikelihood (with shared-context packing), token log-probs, losses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from audit.models.adapters.base import CachePolicy, Capability, LoglikelihoodResult, LossRequest, TokenLogprobs
from audit.models.adapters.head import OutputHead
from audit.models.adapters.host import to_device, to_host
from audit.models.adapters.batching import inference_context
from audit.models.adapters.packing import PackedJob, packed_inputs
from audit.models.adapters.runtime import ModelRuntime, canonical_json
from audit.errors import DataError

PACKING_ATOL_FP32 = 1e-3            # packed vs plain multiple-choice log-probs must agree this closely
PACKING_ATOL_HALF = 5e-2


@dataclass(frozen=True)
class ScoreJob:
    """A causal-LM sequence whose last `n_scored` tokens are scored."""

    input_ids: tuple[int, ...]
    n_scored: int


Scored = tuple[np.ndarray, bool]   # per-token log-probs of the scored tokens, all of them greedy
OnDevice = tuple[torch.Tensor, torch.Tensor]   # a batch's (log-probs, greedy hits) before the copy to the host


def scored(result: tuple[np.ndarray, np.ndarray]) -> Scored:
    """A batch's (log-probs, hits) on the host as Scored (the `all` runs here, not per batch on the device)."""
    logprobs, hits = result
    return logprobs, bool(hits.all())


class CausalOps:
    """Causal-LM scoring over one runtime; the LM head runs only at scored positions."""

    def __init__(self, rt: ModelRuntime, head: OutputHead) -> None:
        self.rt = rt
        self.head = head
        self.packing_ok: bool | None = None

    # ---------------------------------------------------------------- public calls
    def loglikelihood(self, requests: Sequence[tuple[str, str]],
                      policy: CachePolicy = CachePolicy.PERSIST) -> list[LoglikelihoodResult]:
        pairs = [tuple(r) for r in requests]
        self.rt.note_truncation([c + x for c, x in pairs], reserve=1)
        return self.rt.cached(Capability.LOGLIKELIHOOD, pairs, lambda r: canonical_json(list(r)),
                              self._loglikelihood_uncached, policy)

    def token_logprobs(self, texts: Sequence[str]) -> list[TokenLogprobs]:
        self.rt.note_truncation(texts, reserve=1)
        return self.rt.cached(Capability.TOKEN_LOGPROBS, texts, canonical_json, self._token_logprobs_uncached)

    def losses(self, requests: Sequence[LossRequest]) -> np.ndarray:
        """Mean negative log-likelihood per token (nats) of each text, every token scored (after BOS,
        or EOS when the tokenizer has no BOS, as lm-eval's rolling log-likelihood does)."""
        for n, r in enumerate(requests):
            if r.label is not None:
                raise DataError(f"losses request {n}: a causal LM takes no label (got {r.label!r})")
            if not r.text:
                raise DataError(f"losses request {n}: the text is empty")
        scored = self.loglikelihood([("", r.text) for r in requests])
        return np.array([-s.logprob / s.n_tokens if s.n_tokens else float("nan") for s in scored])

    # ---------------------------------------------------------------- sequences
    def prefix_id(self, *, allow_eos: bool) -> int | None:
        """BOS when the tokenizer defines one; for empty contexts also EOS (lm-eval's prefix token)."""
        candidates = [self.rt.tokenizer.bos_token_id]
        if allow_eos:
            config = self.rt.model.config
            candidates += [self.rt.tokenizer.eos_token_id, getattr(config, "bos_token_id", None),
                           getattr(config, "eos_token_id", None)]
        for candidate in candidates:
            if isinstance(candidate, list):
                candidate = candidate[0] if candidate else None
            if candidate is not None:
                return int(candidate)
        return None

    def score_jobs(self, requests: list[tuple[str, str]]) -> list[ScoreJob]:
        """(context, continuation) -> sequence + number of continuation tokens, as lm-eval builds them:
        trailing spaces of the context belong to the continuation; BOS (or EOS) before an empty
        context; the last max_length tokens kept (the continuation must survive)."""
        contexts, wholes = [], []
        for context, continuation in requests:
            stripped = context.rstrip(" ")
            contexts.append(stripped)
            wholes.append(stripped + context[len(stripped):] + continuation)
        context_ids = self.rt.encode_plain(contexts)
        whole_ids = self.rt.encode_plain(wholes)
        prefix = self.prefix_id(allow_eos=True)
        jobs = []
        for ctx, whole in zip(context_ids, whole_ids):
            n_cont = len(whole) - len(ctx)
            seq = whole if (ctx or prefix is None) else [prefix] + whole
            jobs.append(self.truncate_left(seq, n_cont))
        return jobs

    def truncate_left(self, seq: list[int], n_scored: int) -> ScoreJob:
        if len(seq) > self.rt.max_length:
            seq = seq[-self.rt.max_length:]
        return ScoreJob(tuple(seq), min(n_scored, max(0, len(seq) - 1)))

    # ---------------------------------------------------------------- uncached work
    def _loglikelihood_uncached(self, requests: list[tuple[str, str]]) -> list[LoglikelihoodResult]:
        scored = self._score_sharing_contexts(self.score_jobs(requests))
        return [LoglikelihoodResult(logprob=float(lp.sum()), is_greedy=greedy, n_tokens=len(lp))
                for lp, greedy in scored]

    def _token_logprobs_uncached(self, texts: list[str]) -> list[TokenLogprobs]:
        prefix = self.prefix_id(allow_eos=False)
        seqs = [([prefix] if prefix is not None else []) + ids for ids in self.rt.encode_plain(texts)]
        seqs = [s[:self.rt.max_length] for s in seqs]
        scored = self.score([ScoreJob(tuple(s), max(0, len(s) - 1)) for s in seqs], desc="token_logprobs")
        return [TokenLogprobs(tokens=self.rt.decode_tokens(s), token_ids=list(s), logprobs=lp)
                for s, (lp, _) in zip(seqs, scored)]

    def _score_sharing_contexts(self, jobs: list[ScoreJob]) -> list[Scored]:
        """Score jobs; those sharing a context (multiple choice) are packed into one sequence."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, job in enumerate(jobs):
            if job.n_scored > 0:
                groups.setdefault(job.input_ids[:len(job.input_ids) - job.n_scored], []).append(i)
        packed, members = [], []
        for context, idx in groups.items():
            pj = PackedJob(context, tuple(jobs[i].input_ids[len(context):] for i in idx))
            if len(idx) > 1 and context and len(pj.input_ids) <= self.rt.max_length:
                packed.append(pj)
                members.append(idx)
        if not packed or not self._packing_verified(packed[0], [jobs[i] for i in members[0]]):
            return self.score(jobs, desc="loglikelihood")
        out: list[Scored] = [(np.zeros(0, dtype=np.float32), True)] * len(jobs)
        in_packs = {i for idx in members for i in idx}
        rest = [i for i in range(len(jobs)) if i not in in_packs]
        for i, result in zip(rest, self.score([jobs[i] for i in rest], desc="loglikelihood")):
            out[i] = result
        for idx, per_choice in zip(members, self.rt.run(packed, self._packed_batch, desc="loglikelihood",
                                                        lengths=[len(p.input_ids) for p in packed])):
            for i, result in zip(idx, per_choice):
                out[i] = scored(result)
        return out

    def _packing_verified(self, job: PackedJob, plain: list[ScoreJob]) -> bool:
        """Check once per model that packed scoring equals plain scoring (4D masks are honoured)."""
        if self.packing_ok is None:
            reference = self.score(plain, desc="loglikelihood")
            self.packing_ok = False
            if self.head.module is not None:
                try:
                    with inference_context(self.rt.device, self.rt.dtype):
                        packed = [scored(r) for r in to_host(self._packed_batch([job]))[0]]
                except Exception:  # noqa: BLE001 - an architecture without 4D-mask support
                    return False
                tol = PACKING_ATOL_FP32 if self.rt.dtype == torch.float32 else PACKING_ATOL_HALF
                self.packing_ok = all(np.allclose(a[0], b[0], atol=tol) for a, b in zip(reference, packed))
        return self.packing_ok

    def _packed_batch(self, jobs: list[PackedJob]) -> list[list[OnDevice]]:
        rt = self.rt
        ids, positions, mask = packed_inputs(jobs, rt.pad_id, rt.model.dtype)
        ids, positions, mask = ids.to(rt.device), positions.to(rt.device), mask.to(rt.device)
        hidden = rt.forward(rt.model.base_model, input_ids=ids, attention_mask=mask, position_ids=positions)[0]
        rows, cols, targets = [], [], []
        for b, job in enumerate(jobs):
            for cont, predictors in zip(job.continuations, job.predictor_rows()):
                rows += [b] * len(cont)
                cols += predictors
                targets += cont
        index = to_device(rows, ids.device), to_device(cols, ids.device)
        logprobs = torch.log_softmax(self.head.module(hidden[index]).float(), dim=-1)
        target = to_device(targets, ids.device)
        picked = logprobs.gather(1, target.unsqueeze(1)).squeeze(1)
        hits = logprobs.argmax(dim=-1) == target
        results, k = [], 0
        for job in jobs:
            per_choice = []
            for cont in job.continuations:
                per_choice.append((picked[k:k + len(cont)], hits[k:k + len(cont)]))
                k += len(cont)
            results.append(per_choice)
        return results

    def score(self, jobs: list[ScoreJob], *, desc: str) -> list[Scored]:
        """Log-probs of each job's last n_scored tokens, and whether each was the argmax."""
        empty: Scored = (np.zeros(0, dtype=np.float32), True)
        live = [i for i, job in enumerate(jobs) if job.n_scored > 0]
        out: list[Scored] = [empty] * len(jobs)
        results = self.rt.run([jobs[i] for i in live], self._score_batch, desc=desc,
                              lengths=[len(jobs[i].input_ids) for i in live], full_vocab_logits=True)
        for i, result in zip(live, results):
            out[i] = scored(result)
        return out

    def _score_batch(self, jobs: list[ScoreJob]) -> list[OnDevice]:
        """Run the base model once, then the LM head only at the positions that predict scored tokens."""
        ids, mask = self.rt.pad([job.input_ids for job in jobs])
        rows = to_device([r for r, job in enumerate(jobs) for _ in range(job.n_scored)], ids.device)
        cols = to_device([p for job in jobs for p in range(len(job.input_ids) - job.n_scored - 1,
                                                             len(job.input_ids) - 1)], ids.device)
        logprobs = self.head.logprobs_at(ids, mask, rows, cols)
        targets = ids[rows, cols + 1]
        picked = logprobs.gather(1, targets.unsqueeze(1)).squeeze(1)
        hits = logprobs.argmax(dim=-1) == targets
        results, k = [], 0
        for job in jobs:
            results.append((picked[k:k + job.n_scored], hits[k:k + job.n_scored]))
            k += job.n_scored
        return results
