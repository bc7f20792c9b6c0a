"""The ModelAdapter protocol: the only door through which suites reach a model.

Every method takes a *list* of requests and returns results in the same order. The
adapter alone decides batching (length-sorted, padded per batch, OOM back-off), device,
autocast and caching, so suites build request lists and never loop over forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol, Sequence, runtime_checkable

import numpy as np


class Capability(str, Enum):
    CLASSIFY = "classify"                # texts -> class probabilities
    LOGLIKELIHOOD = "loglikelihood"      # (context, continuation) -> log p(continuation | context)
    TOKEN_LOGPROBS = "token_logprobs"    # texts -> per-token log-probs (causal LM)
    MASKED_SCORES = "masked_scores"      # token ids with one [MASK] -> log-probs of target ids there
    MASK_FILL = "mask_fill"              # texts with [MASK] -> top-k fills
    ATTENTIONS = "attentions"            # texts -> attention tensors
    EMBED = "embed"                      # texts -> pooled embeddings
    TOKENIZE = "tokenize"                # texts -> token ids (no model call)
    GRADIENTS = "gradients"              # reserved: gradients w.r.t. input embeddings
    GENERATE = "generate"                # reserved: text generation
    TRAIN = "train"                      # reserved: produce new model artifacts


class ModelKind(str, Enum):
    CAUSAL_LM = "causal_lm"
    MASKED_LM = "masked_lm"
    CLASSIFIER = "classifier"
    ENCODER = "encoder"


@dataclass(frozen=True)
class LoglikelihoodResult:
    """log p(continuation | context), summed over the continuation's tokens."""

    logprob: float
    is_greedy: bool      # every continuation token was the argmax
    n_tokens: int


@dataclass(frozen=True)
class TokenLogprobs:
    """Per-token log-probs of a text under a causal LM (the first token has no score)."""

    tokens: list[str]
    token_ids: list[int]
    logprobs: np.ndarray  # shape (len(tokens) - 1,): logprobs[i] scores tokens[i + 1]

    @property
    def total(self) -> float:
        return float(self.logprobs.sum())


@dataclass(frozen=True)
class MaskedQuery:
    """Token ids (with special tokens) where `position` holds the mask token.

    The adapter returns log p(target | context) at that position for each target id.
    Identical (input_ids, position) queries are computed once, and the output head is
    applied only at `position`.
    """

    input_ids: tuple[int, ...]
    position: int
    target_ids: tuple[int, ...]


@dataclass(frozen=True)
class Fill:
    token: str
    token_id: int
    prob: float


@dataclass(frozen=True)
class AttentionResult:
    tokens: list[str]
    attentions: np.ndarray  # (layers, heads, seq, seq), float32


@runtime_checkable
class ModelAdapter(Protocol):
    """What suites may call. Implementations: HFAdapter (transformers)."""

    name: str
    kind: ModelKind
    capabilities: frozenset[Capability]
    fingerprint: str          # content hash of the weights + tokenizer: the cache key prefix
    device: str

    # -- tokenizer facts (no model call)
    @property
    def labels(self) -> list[str]: ...            # classifier label names in output order
    @property
    def mask_token(self) -> str | None: ...
    @property
    def mask_token_id(self) -> int | None: ...
    def tokenize(self, texts: Sequence[str], add_special_tokens: bool = True) -> list[list[int]]: ...
    def decode_tokens(self, ids: Sequence[int]) -> list[str]: ...

    # -- batched model calls
    def classify(self, texts: Sequence[str]) -> np.ndarray: ...                 # (n, n_labels) probs
    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[LoglikelihoodResult]: ...
    def token_logprobs(self, texts: Sequence[str]) -> list[TokenLogprobs]: ...
    def masked_scores(self, queries: Sequence[MaskedQuery]) -> list[np.ndarray]: ...  # log-probs per target
    def mask_fill(self, texts: Sequence[str], top_k: int = 5) -> list[list[Fill]]: ...
    def attentions(self, texts: Sequence[str]) -> list[AttentionResult]: ...
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...                    # (n, hidden)


def require(adapter: ModelAdapter, *needed: Capability) -> None:
    """Raise a clear error when `adapter` lacks any of `needed`."""
    from audit.errors import CapabilityError

    missing = [c.value for c in needed if c not in adapter.capabilities]
    if missing:
        have = ", ".join(sorted(c.value for c in adapter.capabilities))
        raise CapabilityError(
            f"model '{adapter.name}' ({adapter.kind.value}) lacks capability {', '.join(missing)}; "
            f"it has: {have}"
        )
