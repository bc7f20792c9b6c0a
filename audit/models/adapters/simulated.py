"""A simulated adapter for planning: the real tokenizer, cache keys and batching, but no weights.

`run_audit.py plan` runs every suite against it. Each batched call asks the real result cache which
requests it already answers (read-only), batches the rest exactly as the real adapter would
(`run_batched` with the same BatchPolicy) and records real and padded tokens per batch; the model
itself is a meta-device skeleton (parameter counts, no memory) and outputs are deterministic
stand-ins, so suites whose control flow depends on the model (attacks stopping early) give an
upper bound on their requests. `generate` records one prefill batch and its decoding steps (one
forward call per new token, KV cache). The time spent inside simulated calls (tokenising for lengths,
stand-ins) is counted apart, so the plan does not mistake it for the suite's own work.
"""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from audit.config.schema import ModelSpec
from audit.errors import AuditUserError
from audit.models.adapters.base import (Attribution, AttentionResult, CachePolicy, Capability, Fill, Generation,
                                        GenerationRequest, GenerationSettings, GradientRequest, IdsInput,
                                        LoglikelihoodResult, LossRequest, MaskedQuery, ModelKind, TokenLogprobs)
from audit.models.adapters.batching import run_batched
from audit.models.adapters.cache import CACHE_FILE_NAME, ResultCache
from audit.models.adapters.classifier_ops import LOGITS, softmax
from audit.models.adapters.generate_ops import FINISH_LENGTH, GenerateOps
from audit.models.adapters.hf import HFAdapter
from audit.models.adapters.loading import (auto_class, choose_weights, max_length_for, read_config,
                                           fingerprint_files, fingerprint_folder, infer_kind, resolve_device,
                                           resolve_dtype, resolve_model_dir)
from audit.models.adapters.runtime import canonical_json, stack_rows


@dataclass
class BatchRecord:
    """One simulated batch: which capability, how many items, real and padded tokens, pass kind."""

    capability: str
    items: int
    real_tokens: int
    padded_tokens: int
    max_length: int
    backward: bool = False
    rows_per_item: int = 1
    folder: str = ""             # the model that ran it (the audited, a reference or a derived model)
    head_positions: int = 0      # positions scored through the full-vocabulary output head
    calls: int = 1               # forward calls (a decoding batch: one per new token)
    float32: bool = False        # computed in float32 whatever the run's dtype (generation on a CPU)
    sampled: bool = False        # each call also runs the seeded sampler on every row (sampled generation)


@dataclass
class CallRecorder:
    """Everything a plan counts for one model: requests, cache answers, batches, training."""

    requests: dict[str, int] = field(default_factory=dict)
    cache_hits: dict[str, int] = field(default_factory=dict)
    batches: list[BatchRecord] = field(default_factory=list)
    training: list[dict[str, Any]] = field(default_factory=list)
    adapter_seconds: float = 0.0  # CPU time inside simulated calls (not the suite's own work)

    def ask(self, capability: str, n: int, hits: int) -> None:
        self.requests[capability] = self.requests.get(capability, 0) + n
        self.cache_hits[capability] = self.cache_hits.get(capability, 0) + hits


class PlanCache(ResultCache):
    """Reads the real cache file; stores stand-ins in memory only (a plan must never write results)."""

    def put_many(self, items: dict[str, Any], policy: CachePolicy = CachePolicy.PERSIST) -> None:
        super().put_many(items, CachePolicy.MEMORY if policy != CachePolicy.OFF else policy)


def _unit(*keys: object) -> float:
    """A deterministic number in [0, 1) from `keys` (stand-in outputs repeat across runs)."""
    return int.from_bytes(hashlib.sha256(repr(keys).encode()).digest()[:4], "little") / 2**32


STAND_IN_WORDS = ("the", "film", "is", "a", "good", "story", "and", "I", "think", "it", "was", "not", "very")


def _timed(method: Any) -> Any:
    """Count the CPU time of a simulated call (outermost call only) into the recorder."""
    @functools.wraps(method)
    def wrapper(self: "SimulatedAdapter", *args: Any, **kwargs: Any) -> Any:
        if self.in_call:
            return method(self, *args, **kwargs)
        self.in_call, began = True, time.process_time()
        try:
            return method(self, *args, **kwargs)
        finally:
            self.in_call = False
            self.recorder.adapter_seconds += time.process_time() - began
    return wrapper


class SimulatedGenerateOps(GenerateOps):
    """GenerateOps whose uncached batches are recorded: a prefill, then one decoding call per new token."""

    def __init__(self, adapter: "SimulatedAdapter", prefix_id: int | None) -> None:
        super().__init__(adapter.rt, prefix_id)
        self.adapter = adapter

    def _uncached(self, requests: list[GenerationRequest], settings: GenerationSettings) -> list[Generation]:
        ids = self.prompt_ids([r.prompt for r in requests], settings)
        jobs = list(zip(requests, ids))
        new = settings.max_new_tokens
        folder = self.rt.folder

        def compute(batch: list[tuple[GenerationRequest, list[int]]]) -> list[Generation]:
            width, rows = max(len(seq) for _, seq in batch), len(batch)
            recorder = self.adapter.recorder
            recorder.batches.append(BatchRecord("generate", rows, sum(len(seq) for _, seq in batch), rows * width,
                                                width, folder=folder, head_positions=rows, float32=True,
                                                sampled=settings.do_sample))
            if new > 1:
                recorder.batches.append(BatchRecord("generate", rows, rows * (new - 1), rows * (new - 1),
                                                    width + new, folder=folder, head_positions=rows * (new - 1),
                                                    calls=new - 1, float32=True, sampled=settings.do_sample))
            return [Generation(text=" ".join(STAND_IN_WORDS[int(_unit(r.prompt, r.seed, k) * len(STAND_IN_WORDS))]
                                             for k in range(min(new, 12))),
                               n_tokens=new, finish=FINISH_LENGTH, prompt_tokens=len(seq)) for r, seq in batch]

        policy = self.rt.policy(True, 1)
        return run_batched(jobs, [len(i) + new for i in ids], compute, policy, desc="plan generate",
                           cap=self.rt.oom_cap)


class SimulatedAdapter(HFAdapter):
    """HFAdapter whose batched calls are recorded instead of computed (see the module docstring)."""

    recorder: CallRecorder
    in_call: bool = False

    def use_simulated_generation(self) -> None:
        if self._generate is not None:
            self._generate = SimulatedGenerateOps(self, self._generate.prefix_id)

    def _simulate(self, capability: str, items: list[Any], lengths: list[int], make: Any, *,
                  backward: bool = False, rows: int = 1, full_vocab: bool = False,
                  head_positions: Any = None) -> list[Any]:
        recorder = self.recorder

        def compute(batch: list[Any]) -> list[Any]:
            sizes = [lengths_of[id(x)] for x in batch]
            head = sum(head_positions(x) for x in batch) if head_positions else 0
            recorder.batches.append(BatchRecord(capability, len(batch), sum(sizes) * rows,
                                                len(batch) * max(sizes) * rows, max(sizes), backward, rows,
                                                self.rt.folder, head_positions=head))
            return [make(x) for x in batch]

        lengths_of = {id(x): n for x, n in zip(items, lengths)}
        policy = self.rt.policy(full_vocab, rows)
        return run_batched(items, lengths, compute, policy, desc=f"plan {capability}", cap=self.rt.oom_cap)

    def _cached(self, capability: str, requests: Sequence[Any], canonical: Any, length: Any, make: Any,
                policy: CachePolicy = CachePolicy.PERSIST, **kw: Any) -> list[Any]:
        before = self.rt.cache.stats.hits
        out = self.rt.cached(capability, list(requests), canonical,
                             lambda todo: self._simulate(capability, todo, [length(x) for x in todo], make, **kw),
                             policy)
        self.recorder.ask(capability, len(requests), self.rt.cache.stats.hits - before)
        return out

    def _uncached(self, capability: str, requests: Sequence[Any], length: Any, make: Any, **kw: Any) -> list[Any]:
        self.rt.count_uncached(len(requests))
        self.recorder.ask(capability, len(requests), 0)
        return self._simulate(capability, list(requests), [length(x) for x in requests], make, **kw)

    def _len(self, text: str) -> int:
        return min(self.rt.max_length, len(self.rt.tokenizer(text, truncation=False, verbose=False)["input_ids"]))

    def _logits(self, key: object) -> np.ndarray:
        return np.array([_unit(key, i) for i in range(max(1, len(self.labels)))], dtype=np.float32) * 4

    # ------------------------------------------------------------ the batched capabilities
    @_timed
    def classify(self, texts: Sequence[str], *, cache: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        self.rt.note_truncation(texts)
        rows = self._cached(LOGITS, texts, canonical_json, self._len, self._logits, CachePolicy(cache))
        return softmax(stack_rows(rows, len(self.labels)))

    @_timed
    def classify_ids(self, inputs: Sequence[IdsInput], *, cache: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        rows = self._cached(Capability.CLASSIFY_IDS.value, inputs,
                            lambda r: canonical_json([list(r.input_ids), list(r.attention_mask or ())]),
                            lambda r: len(r.input_ids), lambda r: self._logits(tuple(r.input_ids)), CachePolicy(cache))
        return softmax(stack_rows(rows, len(self.labels)))

    @_timed
    def losses(self, requests: Sequence[LossRequest]) -> np.ndarray:
        causal = self.kind == ModelKind.CAUSAL_LM
        out = self._uncached(Capability.LOSSES.value, requests, lambda r: self._len(r.text),
                             lambda r: 0.2 + 3 * _unit(r.text, r.label), full_vocab=causal,
                             head_positions=(lambda r: self._len(r.text)) if causal else None)
        return np.asarray(out, dtype=np.float64)

    @_timed
    def embed(self, texts: Sequence[str], *, cache: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        width = int(getattr(self.rt.model.config, "hidden_size", 8) or 8)
        rows = self._cached(Capability.EMBED.value, texts, canonical_json, self._len,
                            lambda t: np.random.default_rng(int(_unit(t) * 2**31)).standard_normal(width)
                            .astype(np.float32), CachePolicy(cache))
        return np.stack(rows) if rows else np.zeros((0, width), dtype=np.float32)

    @_timed
    def loglikelihood(self, requests: Sequence[tuple[str, str]], *,
                      cache: CachePolicy = CachePolicy.PERSIST) -> list[LoglikelihoodResult]:
        def make(r: tuple[str, str]) -> LoglikelihoodResult:
            n = max(1, self._len(r[1]) - 1)
            return LoglikelihoodResult(logprob=-n * (1 + 4 * _unit(*r)), is_greedy=False, n_tokens=n)

        def packed(todo: list[tuple[str, str]]) -> list[LoglikelihoodResult]:
            """As CausalOps: continuations sharing a context are packed into one sequence."""
            groups: dict[str, list[int]] = {}
            for i, (context, _) in enumerate(todo):
                groups.setdefault(context, []).append(i)
            units, lengths = [], []
            for context, idx in groups.items():
                width = self._len(context) + sum(self._len(todo[i][1]) for i in idx)
                if len(idx) > 1 and context and width <= self.rt.max_length:
                    units.append(idx)
                    lengths.append(width)
                else:
                    units += [[i] for i in idx]
                    lengths += [self._len(todo[i][0] + todo[i][1]) for i in idx]
            out: list[Any] = [None] * len(todo)
            scored = self._simulate(Capability.LOGLIKELIHOOD.value, units, lengths,
                                    lambda unit: [make(todo[i]) for i in unit], full_vocab=True,
                                    head_positions=lambda unit: sum(self._len(todo[i][1]) for i in unit))
            for unit, results in zip(units, scored):
                for i, value in zip(unit, results):
                    out[i] = value
            return out

        before = self.rt.cache.stats.hits
        out = self.rt.cached(Capability.LOGLIKELIHOOD.value, [tuple(r) for r in requests],
                             lambda r: canonical_json(list(r)), packed, CachePolicy(cache))
        self.recorder.ask(Capability.LOGLIKELIHOOD.value, len(requests), self.rt.cache.stats.hits - before)
        return out

    @_timed
    def token_logprobs(self, texts: Sequence[str]) -> list[TokenLogprobs]:
        def make(text: str) -> TokenLogprobs:
            ids = self.rt.encode_plain([text])[0][: self.rt.max_length] or [0]
            return TokenLogprobs(tokens=self.rt.decode_tokens(ids), token_ids=list(ids),
                                 logprobs=-np.full(len(ids) - 1, 1 + 4 * _unit(text)))

        return self._cached(Capability.TOKEN_LOGPROBS.value, texts, canonical_json, self._len, make,
                            full_vocab=True, head_positions=self._len)

    @_timed
    def masked_scores(self, queries: Sequence[MaskedQuery]) -> list[np.ndarray]:
        return self._uncached(Capability.MASKED_SCORES.value, queries, lambda q: len(q.input_ids),
                              lambda q: np.array([-2 - 8 * _unit(q.input_ids, q.position, t) for t in q.target_ids]))

    @_timed
    def mask_fill(self, texts: Sequence[str], top_k: int = 5) -> list[list[Fill]]:
        def make(text: str) -> list[Fill]:
            ids = [1000 + int(_unit(text, k) * 20000) for k in range(top_k)]
            return [Fill(token=tok, token_id=i, prob=0.5 / (k + 1))
                    for k, (i, tok) in enumerate(zip(ids, self.rt.decode_tokens(ids)))]

        return self._uncached(Capability.MASK_FILL.value, texts, self._len, make)

    @_timed
    def attentions(self, texts: Sequence[str]) -> list[AttentionResult]:
        config = self.rt.model.config
        layers = int(getattr(config, "num_hidden_layers", 1))
        heads = int(getattr(config, "num_attention_heads", 1))

        def make(text: str) -> AttentionResult:
            ids = self.rt.tokenize([text])[0]
            n = len(ids)
            return AttentionResult(tokens=self.rt.decode_tokens(ids),
                                   attentions=np.full((layers, heads, n, n), 1.0 / n, dtype=np.float32))

        return self._uncached(Capability.ATTENTIONS.value, texts, self._len, make)

    @_timed
    def gradients(self, requests: Sequence[GradientRequest]) -> list[Attribution]:
        def make(r: GradientRequest) -> Attribution:
            enc = self.rt.encode([r.text])[0]
            scores = np.array([0.0 if s else _unit(r.text, i) - 0.5 for i, s in enumerate(enc.special)])
            return Attribution(tokens=self.rt.decode_tokens(enc.input_ids), token_ids=enc.input_ids,
                               offsets=enc.offsets, special=enc.special, scores=scores,
                               output=float(scores.sum()) + 0.1, baseline_output=0.1, steps=r.steps)

        steps = max((r.steps for r in requests), default=1)
        return self._uncached(Capability.GRADIENTS.value, requests, lambda r: self._len(r.text), make,
                              backward=True, rows=steps)

    @_timed
    def generate(self, requests: Sequence[GenerationRequest], settings: GenerationSettings, *,
                 cache: CachePolicy = CachePolicy.PERSIST) -> list[Generation]:
        before = self.rt.cache.stats.hits
        out = super().generate(requests, settings, cache=cache)
        self.recorder.ask(Capability.GENERATE.value, len(requests), self.rt.cache.stats.hits - before)
        return out


def load_simulated_adapter(name: str, spec: ModelSpec, prepared_dir: Path, cache_dir: Path | None,
                           recorder: CallRecorder) -> SimulatedAdapter:
    """The adapter `load_adapter` would build, with a meta-device model (no weights are read)."""
    import transformers

    folder = resolve_model_dir(spec.path, prepared_dir)
    try:
        fmt, _ = choose_weights(folder, spec)
    except AuditUserError:            # a planned derived model has a config and a tokenizer but no weights
        fmt = {}
    config_dict = read_config(folder, has_gguf="gguf_file" in fmt)
    kind = ModelKind(spec.kind) if spec.kind != "auto" else infer_kind(config_dict.get("architectures"))
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True,
                                                           trust_remote_code=spec.trust_remote_code)
    config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True,
                                                     trust_remote_code=spec.trust_remote_code)
    with torch.device("meta"):
        model = auto_class(kind).from_config(config)
    try:
        fingerprint = fingerprint_folder(folder, fingerprint_files(folder, spec, kind), kind)
    except AuditUserError:
        fingerprint = f"planned-{folder.name}"
    cache = PlanCache(None if cache_dir is None else Path(cache_dir) / CACHE_FILE_NAME)
    adapter = SimulatedAdapter(name, kind, model, tokenizer, device=device, dtype=dtype,
                               max_length=max_length_for(spec, model, tokenizer),
                               batch_size=spec.batch_size if isinstance(spec.batch_size, int) else None,
                               fingerprint=fingerprint, cache=cache, folder=str(folder))
    adapter.recorder = recorder
    adapter.use_simulated_generation()
    return adapter
