"""HFAdapter: the ModelAdapter over a transformers model (the only code that calls the model).

A thin facade: it checks capabilities and delegates each call to the family that implements it
(classifier_ops, causal_ops, masked_ops, attention_ops, gradient_ops), all sharing one
ModelRuntime (device, batching, result cache, counters). Every public method takes a list,
answers from the cache where it can, and returns results in the caller's order.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from audit.models.adapters.attention_ops import AttentionOps
from audit.models.adapters.base import (AttentionResult, Attribution, CachePolicy, Capability, Encoding, Fill,
                                 Generation, GenerationRequest, GenerationSettings, GradientRequest, IdsInput,
                                 LoglikelihoodResult, LossRequest, MaskedQuery, ModelKind, TokenLogprobs, require)
from audit.models.adapters.cache import CacheStats, ResultCache
from audit.models.adapters.causal_ops import CausalOps
from audit.models.adapters.classifier_ops import ClassifierOps
from audit.models.adapters.generate_ops import GenerateOps
from audit.models.adapters.gpu import reduced_precision_threads
from audit.models.adapters.gradient_ops import GradientOps
from audit.models.adapters.head import OutputHead
from audit.models.adapters.masked_ops import MaskedOps
from audit.models.adapters.runtime import ModelRuntime

_COMMON = frozenset({Capability.EMBED, Capability.ATTENTIONS, Capability.TOKENIZE, Capability.ENCODE})
CAPABILITIES_BY_KIND: dict[ModelKind, frozenset[Capability]] = {
    ModelKind.CLASSIFIER: _COMMON | {Capability.CLASSIFY, Capability.CLASSIFY_IDS, Capability.LOSSES,
                                     Capability.GRADIENTS, Capability.TRAIN},
    ModelKind.MASKED_LM: _COMMON | {Capability.MASKED_SCORES, Capability.MASK_FILL},
    ModelKind.CAUSAL_LM: _COMMON | {Capability.LOGLIKELIHOOD, Capability.TOKEN_LOGPROBS, Capability.LOSSES,
                                    Capability.GRADIENTS, Capability.TRAIN, Capability.GENERATE},
    ModelKind.ENCODER: _COMMON | {Capability.TRAIN},
}


class HFAdapter:
    """ModelAdapter over one loaded transformers model and tokenizer (see audit.models.adapters.base)."""

    def __init__(self, name: str, kind: ModelKind, model: Any, tokenizer: Any, *, device: str,
                 dtype: torch.dtype, max_length: int, batch_size: int | None, fingerprint: str,
                 cache: ResultCache, folder: str = "") -> None:
        self.name = name
        self.kind = kind
        self.capabilities = CAPABILITIES_BY_KIND[kind]
        self.fingerprint = fingerprint
        self.device = device
        self.rt = ModelRuntime(name, kind, model, tokenizer, device, dtype, max_length, batch_size, fingerprint,
                               cache, folder)
        head = OutputHead(self.rt)
        self._classifier = ClassifierOps(self.rt)
        self._causal = CausalOps(self.rt, head) if kind == ModelKind.CAUSAL_LM else None
        self._masked = MaskedOps(self.rt, head)
        self._attention = AttentionOps(self.rt)
        self._gradients = GradientOps(self.rt, head, self._causal)
        self._generate = (GenerateOps(self.rt, self._causal.prefix_id(allow_eos=False))
                          if self._causal is not None else None)

    # ---------------------------------------------------------------- facts (no model call)
    @property
    def model(self) -> Any:
        return self.rt.model

    @property
    def tokenizer(self) -> Any:
        return self.rt.tokenizer

    @property
    def max_length(self) -> int:
        return self.rt.max_length

    @property
    def batch_size(self) -> int | None:
        return self.rt.batch_size

    @property
    def dtype(self) -> torch.dtype:
        return self.rt.dtype

    @property
    def forward_passes(self) -> int:
        return self.rt.forward_passes

    @property
    def truncated_inputs(self) -> int:
        return self.rt.truncated_inputs

    @property
    def cache_stats(self) -> CacheStats:
        return self.rt.cache.stats

    @property
    def cache_scope(self) -> str:
        return self.rt.scope.text

    @property
    def result_cache(self) -> ResultCache:
        """The result cache (memory LRU + disk or shared backend): suites keep results they derive from
        this model's outputs (e.g. attributions) in it, under this adapter's `cache_scope`."""
        return self.rt.cache

    def set_cache(self, cache: ResultCache) -> None:
        """Swap the result cache (e.g. ResultCache.off() for timing runs)."""
        self.rt.cache = cache

    @property
    def labels(self) -> list[str]:
        return self._classifier.labels

    @property
    def mask_token(self) -> str | None:
        return self.rt.tokenizer.mask_token

    @property
    def mask_token_id(self) -> int | None:
        return self.rt.tokenizer.mask_token_id

    @property
    def pad_token_id(self) -> int:
        return self.rt.pad_id

    def model_info(self) -> dict[str, Any]:
        config = self.rt.model.config
        architectures = getattr(config, "architectures", None) or [type(self.rt.model).__name__]
        return {"path": self.rt.folder, "architecture": architectures[0], "kind": self.kind.value,
                "n_params": int(sum(p.numel() for p in self.rt.model.parameters())),
                "dtype": str(self.rt.dtype).removeprefix("torch."),
                "weights_dtype": str(next(self.rt.model.parameters()).dtype).removeprefix("torch."),
                "device": self.device,
                "max_length": self.rt.max_length, "fingerprint": self.fingerprint,
                "attn_implementation": self.rt.scope.attn_implementation,
                **threads_fact(self.device, self.rt.dtype)}

    def tokenize(self, texts: Sequence[str], add_special_tokens: bool = True) -> list[list[int]]:
        require(self, Capability.TOKENIZE)
        return self.rt.tokenize(texts, add_special_tokens)

    def encode(self, texts: Sequence[str]) -> list[Encoding]:
        require(self, Capability.ENCODE)
        return self.rt.encode(texts)

    def decode_tokens(self, ids: Sequence[int]) -> list[str]:
        return self.rt.decode_tokens(ids)

    # ---------------------------------------------------------------- batched model calls
    def classify(self, texts: Sequence[str], *, cache: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        require(self, Capability.CLASSIFY)
        return self._classifier.classify(texts, CachePolicy(cache))

    def classify_ids(self, inputs: Sequence[IdsInput], *, cache: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        require(self, Capability.CLASSIFY_IDS)
        return self._classifier.classify_ids(inputs, CachePolicy(cache))

    def losses(self, requests: Sequence[LossRequest]) -> np.ndarray:
        require(self, Capability.LOSSES)
        if self._causal is not None:
            return self._causal.losses(requests)
        return self._classifier.losses(requests)

    def gradients(self, requests: Sequence[GradientRequest]) -> list[Attribution]:
        require(self, Capability.GRADIENTS)
        return self._gradients.gradients(requests)

    def embed(self, texts: Sequence[str], *, cache: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        require(self, Capability.EMBED)
        return self._classifier.embed(texts, CachePolicy(cache))

    def loglikelihood(self, requests: Sequence[tuple[str, str]], *,
                      cache: CachePolicy = CachePolicy.PERSIST) -> list[LoglikelihoodResult]:
        require(self, Capability.LOGLIKELIHOOD)
        assert self._causal is not None
        return self._causal.loglikelihood(requests, CachePolicy(cache))

    def token_logprobs(self, texts: Sequence[str]) -> list[TokenLogprobs]:
        require(self, Capability.TOKEN_LOGPROBS)
        assert self._causal is not None
        return self._causal.token_logprobs(texts)

    def masked_scores(self, queries: Sequence[MaskedQuery]) -> list[np.ndarray]:
        require(self, Capability.MASKED_SCORES)
        return self._masked.masked_scores(queries)

    def mask_fill(self, texts: Sequence[str], top_k: int = 5) -> list[list[Fill]]:
        require(self, Capability.MASK_FILL)
        return self._masked.mask_fill(texts, top_k)

    def generate(self, requests: Sequence[GenerationRequest], settings: GenerationSettings, *,
                 cache: CachePolicy = CachePolicy.PERSIST) -> list[Generation]:
        require(self, Capability.GENERATE)
        assert self._generate is not None
        return self._generate.generate(requests, settings, CachePolicy(cache))

    def prompt_ids(self, prompts: Sequence[str], settings: GenerationSettings) -> list[list[int]]:
        """The token ids generate feeds the model for each prompt (chat template included); no model call."""
        require(self, Capability.GENERATE)
        assert self._generate is not None
        return self._generate.prompt_ids(list(prompts), settings)

    def prompt_tokens(self, prompts: Sequence[str], settings: GenerationSettings) -> list[int]:
        return [len(ids) for ids in self.prompt_ids(prompts, settings)]

    def attentions(self, texts: Sequence[str]) -> list[AttentionResult]:
        require(self, Capability.ATTENTIONS)
        return self._attention.attentions(texts)


def threads_fact(device: str, dtype: torch.dtype) -> dict[str, int]:
    """{"torch_threads": n} where the thread count can change a number (CPU bf16/fp16), else {}."""
    threads = reduced_precision_threads(device, dtype)
    return {} if threads is None else {"torch_threads": threads}
