"""HFAdapter: the ModelAdapter over a transformers model (the only code that calls the model).

Every public method takes a list, answers from the result cache where it can, tokenizes the
rest in one call, and runs the model over length-sorted, right-padded batches
(audit.adapters.batching). Results come back in the caller's order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from audit.adapters.base import (AttentionResult, Capability, Fill, LoglikelihoodResult, MaskedQuery,
                                 ModelKind, TokenLogprobs, require)
from audit.adapters.batching import (BatchPolicy, default_token_budget, inference_context, pad_batch,
                                     run_batched)
from audit.adapters.cache import CacheStats, ResultCache, cache_key
from audit.adapters.packing import PackedJob, packed_inputs
from audit.errors import DataError

CAPABILITIES_BY_KIND: dict[ModelKind, frozenset[Capability]] = {
    ModelKind.CLASSIFIER: frozenset({Capability.CLASSIFY, Capability.EMBED, Capability.ATTENTIONS,
                                     Capability.TOKENIZE}),
    ModelKind.MASKED_LM: frozenset({Capability.MASKED_SCORES, Capability.MASK_FILL, Capability.EMBED,
                                    Capability.ATTENTIONS, Capability.TOKENIZE}),
    ModelKind.CAUSAL_LM: frozenset({Capability.LOGLIKELIHOOD, Capability.TOKEN_LOGPROBS, Capability.EMBED,
                                    Capability.ATTENTIONS, Capability.TOKENIZE}),
    ModelKind.ENCODER: frozenset({Capability.EMBED, Capability.ATTENTIONS, Capability.TOKENIZE}),
}

LOGITS_BYTES_BUDGET = 512 * 2**20   # full-vocabulary float32 logits held per batch
HEAD_CHECK_ATOL = 1e-3          # head-only logits must match the model's own logits this closely
ATTN_EAGER = "eager"
PACKING_ATOL_FP32 = 1e-3            # packed vs plain multiple-choice log-probs must agree this closely
PACKING_ATOL_HALF = 5e-2


@dataclass(frozen=True)
class _MlmJob:
    """One unique token sequence and what to read off the MLM head at some of its positions."""

    input_ids: tuple[int, ...]
    positions: tuple[int, ...]
    targets: tuple[tuple[int, ...], ...] | None = None   # masked_scores: gather these ids per position
    top_k: int = 0                                       # mask_fill: top-k ids per position


@dataclass(frozen=True)
class _ScoreJob:
    """A causal-LM sequence whose last `n_scored` tokens are scored."""

    input_ids: tuple[int, ...]
    n_scored: int


class HFAdapter:
    """ModelAdapter over one loaded transformers model and tokenizer (see audit.adapters.base)."""

    def __init__(self, name: str, kind: ModelKind, model: Any, tokenizer: Any, *, device: str,
                 dtype: torch.dtype, max_length: int, batch_size: int | None, fingerprint: str,
                 cache: ResultCache) -> None:
        self.name = name
        self.kind = kind
        self.capabilities = CAPABILITIES_BY_KIND[kind]
        self.fingerprint = fingerprint
        self.device = device
        self.dtype = dtype
        self.max_length = max_length
        self.batch_size = batch_size
        self.model = model
        self.tokenizer = tokenizer
        self.forward_passes = 0
        self._cache = cache
        self._cache_scope = f"{fingerprint}|{str(dtype).removeprefix('torch.')}|{max_length}"
        self._head: torch.nn.Module | None = None
        self._head_checked = False
        self._packing_ok: bool | None = None

    # ---------------------------------------------------------------- facts (no model call)
    @property
    def cache_stats(self) -> CacheStats:
        return self._cache.stats

    def set_cache(self, cache: ResultCache) -> None:
        """Swap the result cache (e.g. ResultCache.off() for timing runs)."""
        self._cache = cache

    @property
    def labels(self) -> list[str]:
        id2label = getattr(self.model.config, "id2label", None) or {}
        n = getattr(self.model.config, "num_labels", len(id2label))
        return [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(n)]

    @property
    def mask_token(self) -> str | None:
        return self.tokenizer.mask_token

    @property
    def mask_token_id(self) -> int | None:
        return self.tokenizer.mask_token_id

    def model_info(self) -> dict[str, Any]:
        architectures = getattr(self.model.config, "architectures", None) or [type(self.model).__name__]
        return {"architecture": architectures[0], "kind": self.kind.value,
                "n_params": int(sum(p.numel() for p in self.model.parameters())),
                "dtype": str(self.dtype).removeprefix("torch."), "device": self.device,
                "max_length": self.max_length, "fingerprint": self.fingerprint}

    def tokenize(self, texts: Sequence[str], add_special_tokens: bool = True) -> list[list[int]]:
        require(self, Capability.TOKENIZE)
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=add_special_tokens, truncation=True,
                                 max_length=self.max_length)
        return [list(ids) for ids in encoded["input_ids"]]

    def decode_tokens(self, ids: Sequence[int]) -> list[str]:
        """One readable string per id (decoded alone, so '##ing' and 'Ġthe' come out as text)."""
        return self.tokenizer.batch_decode([[int(i)] for i in ids]) if len(ids) else []

    # ---------------------------------------------------------------- batched model calls
    def classify(self, texts: Sequence[str]) -> np.ndarray:
        require(self, Capability.CLASSIFY)
        rows = self._cached(Capability.CLASSIFY, texts, json.dumps, self._classify_uncached)
        return np.stack(rows) if rows else np.zeros((0, len(self.labels)), dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        require(self, Capability.EMBED)
        rows = self._cached(Capability.EMBED, texts, json.dumps, self._embed_uncached)
        hidden = int(getattr(self.model.config, "hidden_size", 0))
        return np.stack(rows) if rows else np.zeros((0, hidden), dtype=np.float32)

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[LoglikelihoodResult]:
        require(self, Capability.LOGLIKELIHOOD)
        return self._cached(Capability.LOGLIKELIHOOD, [tuple(r) for r in requests],
                            lambda r: json.dumps(list(r)), self._loglikelihood_uncached)

    def token_logprobs(self, texts: Sequence[str]) -> list[TokenLogprobs]:
        require(self, Capability.TOKEN_LOGPROBS)
        return self._cached(Capability.TOKEN_LOGPROBS, texts, json.dumps, self._token_logprobs_uncached)

    def masked_scores(self, queries: Sequence[MaskedQuery]) -> list[np.ndarray]:
        require(self, Capability.MASKED_SCORES)
        return self._cached(Capability.MASKED_SCORES, queries,
                            lambda q: json.dumps([list(q.input_ids), q.position, list(q.target_ids)]),
                            self._masked_scores_uncached)

    def mask_fill(self, texts: Sequence[str], top_k: int = 5) -> list[list[Fill]]:
        require(self, Capability.MASK_FILL)
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        return self._cached(Capability.MASK_FILL, texts, lambda t: json.dumps([t, top_k]),
                            lambda todo: self._mask_fill_uncached(todo, top_k))

    def attentions(self, texts: Sequence[str]) -> list[AttentionResult]:
        """Not cached: (layers, heads, seq, seq) per text is too large to keep around."""
        require(self, Capability.ATTENTIONS)
        if not texts:
            return []
        seqs = self.tokenize(texts)
        previous = getattr(self.model.config, "_attn_implementation", None)
        if previous != ATTN_EAGER:
            self.model.set_attn_implementation(ATTN_EAGER)
        try:
            maps = self._run(seqs, self._attention_batch, desc="attentions")
        finally:
            if previous and previous != ATTN_EAGER:
                self.model.set_attn_implementation(previous)
        return [AttentionResult(tokens=self.decode_tokens(s), attentions=m) for s, m in zip(seqs, maps)]

    # ---------------------------------------------------------------- cache + batching plumbing
    def _cached(self, capability: Capability, requests: Sequence[Any], canonical: Callable[[Any], str],
                compute: Callable[[list[Any]], list[Any]]) -> list[Any]:
        """Answer from the cache, compute each distinct missing request once, store, return in order."""
        keys = [cache_key(self._cache_scope, capability.value, canonical(r)) for r in requests]
        found = self._cache.get_many(keys)
        todo: dict[str, Any] = {}
        for key, request in zip(keys, requests):
            if key not in found and key not in todo:
                todo[key] = request
        if todo:
            computed = compute(list(todo.values()))
            fresh = dict(zip(todo.keys(), computed))
            self._cache.put_many(fresh)
            found.update(fresh)
        return [found[key] for key in keys]

    def _policy(self, full_vocab_logits: bool = False) -> BatchPolicy:
        budget = default_token_budget(self.device)
        if full_vocab_logits:
            vocab = int(getattr(self.model.config, "vocab_size", 0) or len(self.tokenizer))
            budget = max(1, min(budget, LOGITS_BYTES_BUDGET // (4 * max(1, vocab))))
        return BatchPolicy(batch_size=self.batch_size, token_budget=budget)

    def _run(self, items: Sequence[Any], compute: Callable[[list[Any]], list[Any]], *, desc: str,
             lengths: Sequence[int] | None = None, full_vocab_logits: bool = False) -> list[Any]:
        lengths = [len(x) for x in items] if lengths is None else lengths

        def guarded(batch: list[Any]) -> list[Any]:
            with inference_context(self.device, self.dtype):
                return compute(batch)

        return run_batched(items, lengths, guarded, self._policy(full_vocab_logits), desc=desc)

    def _pad(self, seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = pad_batch(seqs, self._pad_id())
        return ids.to(self.device), mask.to(self.device)

    def _pad_id(self) -> int:
        for candidate in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id,
                          getattr(self.model.config, "pad_token_id", None)):
            if candidate is not None:
                return int(candidate)
        return 0

    def _forward(self, module: torch.nn.Module, **inputs: Any) -> Any:
        """Every forward pass goes through here (counted, so tests can prove a cache hit ran none)."""
        self.forward_passes += 1
        return module(**inputs)

    # ---------------------------------------------------------------- classifier / encoder
    def _classify_uncached(self, texts: list[str]) -> list[np.ndarray]:
        return self._run(self.tokenize(texts), self._classify_batch, desc="classify")

    def _classify_batch(self, seqs: list[list[int]]) -> list[np.ndarray]:
        ids, mask = self._pad(seqs)
        logits = self._forward(self.model, input_ids=ids, attention_mask=mask).logits
        probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return list(probs)

    def _embed_uncached(self, texts: list[str]) -> list[np.ndarray]:
        return self._run(self.tokenize(texts), self._embed_batch, desc="embed")

    def _embed_batch(self, seqs: list[list[int]]) -> list[np.ndarray]:
        ids, mask = self._pad(seqs)
        hidden = self._forward(self.model.base_model, input_ids=ids, attention_mask=mask)[0].float()
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return list(pooled.cpu().numpy())

    def _attention_batch(self, seqs: list[list[int]]) -> list[np.ndarray]:
        ids, mask = self._pad(seqs)
        out = self._forward(self.model, input_ids=ids, attention_mask=mask, output_attentions=True)
        stacked = torch.stack([a.float() for a in out.attentions], dim=1)  # (batch, layers, heads, L, L)
        return [stacked[row, :, :, :len(s), :len(s)].cpu().numpy() for row, s in enumerate(seqs)]

    # ---------------------------------------------------------------- causal LM scoring
    def _prefix_id(self, *, allow_eos: bool) -> int | None:
        """BOS when the tokenizer defines one; for empty contexts also EOS (lm-eval's prefix token)."""
        candidates = [self.tokenizer.bos_token_id]
        if allow_eos:
            candidates += [self.tokenizer.eos_token_id, getattr(self.model.config, "bos_token_id", None),
                           getattr(self.model.config, "eos_token_id", None)]
        for candidate in candidates:
            if isinstance(candidate, list):
                candidate = candidate[0] if candidate else None
            if candidate is not None:
                return int(candidate)
        return None

    def _encode_plain(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        return [list(x) for x in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def _loglikelihood_uncached(self, requests: list[tuple[str, str]]) -> list[LoglikelihoodResult]:
        contexts, wholes = [], []
        for context, continuation in requests:
            # lm-eval: trailing spaces of the context belong to the continuation
            stripped = context.rstrip(" ")
            contexts.append(stripped)
            wholes.append(stripped + context[len(stripped):] + continuation)
        context_ids = self._encode_plain(contexts)
        whole_ids = self._encode_plain(wholes)
        prefix = self._prefix_id(allow_eos=True)
        jobs = []
        for ctx, whole in zip(context_ids, whole_ids):
            n_cont = len(whole) - len(ctx)
            seq = whole if (ctx or prefix is None) else [prefix] + whole
            jobs.append(self._truncate_left(seq, n_cont))
        scored = self._score_sharing_contexts(jobs)
        return [LoglikelihoodResult(logprob=float(lp.sum()), is_greedy=greedy, n_tokens=len(lp))
                for lp, greedy in scored]

    def _score_sharing_contexts(self, jobs: list[_ScoreJob]) -> list[tuple[np.ndarray, bool]]:
        """Score jobs; those sharing a context (multiple choice) are packed into one sequence."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, job in enumerate(jobs):
            if job.n_scored > 0:
                groups.setdefault(job.input_ids[:len(job.input_ids) - job.n_scored], []).append(i)
        packed, members = [], []
        for context, idx in groups.items():
            pj = PackedJob(context, tuple(jobs[i].input_ids[len(context):] for i in idx))
            if len(idx) > 1 and context and len(pj.input_ids) <= self.max_length:
                packed.append(pj)
                members.append(idx)
        if not packed or not self._packing_verified(packed[0], [jobs[i] for i in members[0]]):
            return self._score(jobs, desc="loglikelihood")
        out: list[tuple[np.ndarray, bool]] = [(np.zeros(0, dtype=np.float32), True)] * len(jobs)
        in_packs = {i for idx in members for i in idx}
        rest = [i for i in range(len(jobs)) if i not in in_packs]
        for i, scored in zip(rest, self._score([jobs[i] for i in rest], desc="loglikelihood")):
            out[i] = scored
        for idx, per_choice in zip(members, self._run(packed, self._packed_batch, desc="loglikelihood",
                                                           lengths=[len(p.input_ids) for p in packed])):
            for i, scored in zip(idx, per_choice):
                out[i] = scored
        return out

    def _packing_verified(self, job: PackedJob, plain: list[_ScoreJob]) -> bool:
        """Check once per model that packed scoring equals plain scoring (4D masks are honoured)."""
        if self._packing_ok is None:
            reference = self._score(plain, desc="loglikelihood")
            self._packing_ok = False
            if self._head is not None:
                try:
                    with inference_context(self.device, self.dtype):
                        packed = self._packed_batch([job])[0]
                except Exception:  # noqa: BLE001 - an architecture without 4D-mask support
                    return False
                tol = PACKING_ATOL_FP32 if self.dtype == torch.float32 else PACKING_ATOL_HALF
                self._packing_ok = all(np.allclose(a[0], b[0], atol=tol) for a, b in zip(reference, packed))
        return self._packing_ok

    def _packed_batch(self, jobs: list[PackedJob]) -> list[list[tuple[np.ndarray, bool]]]:
        ids, positions, mask = packed_inputs(jobs, self._pad_id(), self.model.dtype)
        ids, positions, mask = ids.to(self.device), positions.to(self.device), mask.to(self.device)
        hidden = self._forward(self.model.base_model, input_ids=ids, attention_mask=mask, position_ids=positions)[0]
        rows, cols, targets = [], [], []
        for b, job in enumerate(jobs):
            for cont, predictors in zip(job.continuations, job.predictor_rows()):
                rows += [b] * len(cont)
                cols += predictors
                targets += cont
        index = torch.tensor(rows, device=ids.device), torch.tensor(cols, device=ids.device)
        logprobs = torch.log_softmax(self._head(hidden[index]).float(), dim=-1)
        target = torch.tensor(targets, device=ids.device)
        picked = logprobs.gather(1, target.unsqueeze(1)).squeeze(1).cpu().numpy()
        hits = (logprobs.argmax(dim=-1) == target).cpu().numpy()
        results, k = [], 0
        for job in jobs:
            per_choice = []
            for cont in job.continuations:
                per_choice.append((picked[k:k + len(cont)], bool(hits[k:k + len(cont)].all())))
                k += len(cont)
            results.append(per_choice)
        return results

    def _token_logprobs_uncached(self, texts: list[str]) -> list[TokenLogprobs]:
        prefix = self._prefix_id(allow_eos=False)
        seqs = [([prefix] if prefix is not None else []) + ids for ids in self._encode_plain(texts)]
        seqs = [s[:self.max_length] for s in seqs]
        scored = self._score([_ScoreJob(tuple(s), max(0, len(s) - 1)) for s in seqs], desc="token_logprobs")
        return [TokenLogprobs(tokens=self.decode_tokens(s), token_ids=list(s), logprobs=lp)
                for s, (lp, _) in zip(seqs, scored)]

    def _truncate_left(self, seq: list[int], n_scored: int) -> _ScoreJob:
        """Keep the last max_length tokens (lm-eval's choice: the continuation must survive)."""
        if len(seq) > self.max_length:
            seq = seq[-self.max_length:]
        return _ScoreJob(tuple(seq), min(n_scored, max(0, len(seq) - 1)))

    def _score(self, jobs: list[_ScoreJob], *, desc: str) -> list[tuple[np.ndarray, bool]]:
        """Log-probs of each job's last n_scored tokens, and whether each was the argmax."""
        empty: tuple[np.ndarray, bool] = (np.zeros(0, dtype=np.float32), True)
        live = [i for i, job in enumerate(jobs) if job.n_scored > 0]
        out: list[tuple[np.ndarray, bool]] = [empty] * len(jobs)
        results = self._run([jobs[i] for i in live], self._score_batch, desc=desc,
                            lengths=[len(jobs[i].input_ids) for i in live], full_vocab_logits=True)
        for i, result in zip(live, results):
            out[i] = result
        return out

    def _score_batch(self, jobs: list[_ScoreJob]) -> list[tuple[np.ndarray, bool]]:
        """Run the base model once, then the LM head only at the positions that predict scored tokens
        (for multiple choice that is a few positions out of a long context)."""
        ids, mask = self._pad([job.input_ids for job in jobs])
        rows = torch.tensor([r for r, job in enumerate(jobs) for _ in range(job.n_scored)], device=ids.device)
        cols = torch.tensor([p for job in jobs
                             for p in range(len(job.input_ids) - job.n_scored - 1, len(job.input_ids) - 1)],
                            device=ids.device)
        logprobs = self._logprobs_at(ids, mask, rows, cols)
        targets = ids[rows, cols + 1]
        picked = logprobs.gather(1, targets.unsqueeze(1)).squeeze(1).cpu().numpy()
        hits = (logprobs.argmax(dim=-1) == targets).cpu().numpy()
        results, k = [], 0
        for job in jobs:
            results.append((picked[k:k + job.n_scored], bool(hits[k:k + job.n_scored].all())))
            k += job.n_scored
        return results

    # ---------------------------------------------------------------- masked LM
    def _masked_scores_uncached(self, queries: list[MaskedQuery]) -> list[np.ndarray]:
        """One forward per distinct token sequence; the head runs only at the asked positions."""
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
            jobs.append(_MlmJob(self._check_mlm_length(seq), positions,
                                targets=tuple(tuple(sorted(by_pos[p])) for p in positions)))
        answers = self._run(jobs, self._mlm_batch, desc="masked_scores",
                            lengths=[len(j.input_ids) for j in jobs])
        table: dict[tuple[tuple[int, ...], int], dict[int, float]] = {}
        for job, per_pos in zip(jobs, answers):
            for pos, targets, values in zip(job.positions, job.targets or (), per_pos):
                table[(job.input_ids, pos)] = dict(zip(targets, values.tolist()))
        return [np.array([table[(tuple(q.input_ids), q.position)][t] for t in q.target_ids], dtype=np.float32)
                for q in queries]

    def _mask_fill_uncached(self, texts: list[str], top_k: int) -> list[list[Fill]]:
        mask_id = self.mask_token_id
        jobs = []
        for n, seq in enumerate(self.tokenize(texts)):
            positions = [i for i, t in enumerate(seq) if t == mask_id]
            if len(positions) != 1:
                raise DataError(f"mask_fill text {n} ({texts[n][:60]!r}) must contain the mask token "
                                f"{self.mask_token!r} exactly once (found {len(positions)})")
            jobs.append(_MlmJob(tuple(seq), (positions[0],), top_k=top_k))
        answers = self._run(jobs, self._mlm_batch, desc="mask_fill", lengths=[len(j.input_ids) for j in jobs])
        fills = []
        for per_pos in answers:
            ids, probs = per_pos[0]
            tokens = self.decode_tokens(ids.tolist())
            fills.append([Fill(token=t.strip(), token_id=int(i), prob=float(p))
                          for t, i, p in zip(tokens, ids, probs)])
        return fills

    def _check_mlm_length(self, seq: tuple[int, ...]) -> tuple[int, ...]:
        if len(seq) > self.max_length:
            raise DataError(f"masked_scores: a query has {len(seq)} tokens, more than max_length "
                            f"{self.max_length}")
        return seq

    def _mlm_batch(self, jobs: list[_MlmJob]) -> list[list[Any]]:
        ids, mask = self._pad([job.input_ids for job in jobs])
        rows = torch.tensor([r for r, job in enumerate(jobs) for _ in job.positions], device=ids.device)
        cols = torch.tensor([p for job in jobs for p in job.positions], device=ids.device)
        logprobs = self._logprobs_at(ids, mask, rows, cols)
        results, k = [], 0
        for job in jobs:
            per_pos = []
            for n in range(len(job.positions)):
                row = logprobs[k]
                k += 1
                if job.targets is not None:
                    targets = torch.tensor(job.targets[n], dtype=torch.long, device=row.device)
                    per_pos.append(row[targets].cpu().numpy())
                else:
                    top = torch.topk(row, job.top_k)
                    per_pos.append((top.indices.cpu().numpy(), top.values.exp().cpu().numpy()))
            results.append(per_pos)
        return results

    def _logprobs_at(self, ids: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor,
                     cols: torch.Tensor) -> torch.Tensor:
        """Log-softmax over the vocabulary at (row, col) positions only: the base model runs on the
        whole batch, the output head (a vocabulary-sized matmul) only where a score is read."""
        head = self._resolve_head(ids[:1], mask[:1])
        if head is not None:
            hidden = self._forward(self.model.base_model, input_ids=ids, attention_mask=mask)[0]
            logits = head(hidden[rows, cols])
        else:
            logits = self._forward(self.model, input_ids=ids, attention_mask=mask).logits[rows, cols]
        return torch.log_softmax(logits.float(), dim=-1)

    def _resolve_head(self, probe_ids: torch.Tensor, probe_mask: torch.Tensor) -> torch.nn.Module | None:
        """Find the output head (the one non-base child module) and check it on a probe once.

        BertForMaskedLM -> `cls`, RobertaForMaskedLM / LlamaForCausalLM / GPT2LMHeadModel -> `lm_head`. Models whose head is spread over
        several modules (DistilBERT) or that post-process logits fail the check and use full logits.
        """
        if self._head_checked:
            return self._head
        self._head_checked = True
        base = self.model.base_model
        heads = [child for _, child in self.model.named_children()
                 if child is not base and any(True for _ in child.parameters())]
        if len(heads) != 1 or base is self.model:
            return None
        try:
            full = self._forward(self.model, input_ids=probe_ids, attention_mask=probe_mask).logits[0].float()
            hidden = self._forward(base, input_ids=probe_ids, attention_mask=probe_mask)[0]
            partial = heads[0](hidden[0]).float()
        except Exception:  # noqa: BLE001 - any mismatch of signatures means "not a plain head"
            return None
        scale = float(full.abs().max()) or 1.0
        if partial.shape == full.shape and float((partial - full).abs().max()) <= HEAD_CHECK_ATOL * scale:
            self._head = heads[0]
        return self._head
