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
    CLASSIFY_IDS = "classify_ids"        # token ids + attention mask -> class probabilities (token maskers)
    LOSSES = "losses"                    # per-example loss (classifier: cross-entropy; causal LM: mean NLL)
    LOGLIKELIHOOD = "loglikelihood"      # (context, continuation) -> log p(continuation | context)
    TOKEN_LOGPROBS = "token_logprobs"    # texts -> per-token log-probs (causal LM)
    MASKED_SCORES = "masked_scores"      # token ids with one [MASK] -> log-probs of target ids there
    MASK_FILL = "mask_fill"              # texts with [MASK] -> top-k fills
    ATTENTIONS = "attentions"            # texts -> attention tensors
    EMBED = "embed"                      # texts -> pooled embeddings
    TOKENIZE = "tokenize"                # texts -> token ids (no model call)
    GRADIENTS = "gradients"              # integrated gradients w.r.t. the input embeddings
    ENCODE = "encode"                    # texts -> token ids, character offsets, special-token mask
    GENERATE = "generate"                # prompts -> generated text (greedy or seeded sampling)
    TRAIN = "train"                      # the model can be the base of a derived (fine-tuned) model


class CachePolicy(str, Enum):
    """Per call: where results are kept. Every policy but OFF also reads what is already cached.

    PERSIST: memory (bounded LRU) and the on-disk cache; MEMORY: the LRU only, for the tens of
    thousands of one-off strings of SHAP, LIME and attacks; OFF: neither read nor written.
    """

    PERSIST = "persist"
    MEMORY = "memory"
    OFF = "off"


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


@dataclass(frozen=True)
class Encoding:
    """A text as the model sees it: ids (with special tokens), character spans, which are special."""

    input_ids: list[int]
    offsets: list[tuple[int, int]]     # (start, end) in the text; (0, 0) for special tokens
    special: list[bool]
    truncated: bool                    # the text was longer than max_length and was cut


@dataclass(frozen=True)
class IdsInput:
    """A classifier input given as token ids (e.g. with some tokens masked by an explainer)."""

    input_ids: tuple[int, ...]
    attention_mask: tuple[int, ...] | None = None   # None: attend to every token


@dataclass(frozen=True)
class LossRequest:
    """One example whose loss is asked for.

    Classifier: `label` is the gold label index and the loss is the cross-entropy in nats.
    Causal LM: `label` is None and the loss is the mean negative log-likelihood per token (nats).
    """

    text: str
    label: int | None = None


@dataclass(frozen=True)
class GradientRequest:
    """Integrated gradients of one output w.r.t. the input token embeddings.

    Classifier: `text` is the input, `target` a label index; the output is p(target | text).
    Causal LM: `text` is the prompt, `target` the continuation text; the output is
    log p(continuation | prompt), attributed over the prompt's tokens.
    `baseline` replaces every non-special input embedding: "pad" (the pad token's embedding),
    "mask" (the mask token's) or "zero".
    """

    text: str
    target: int | str
    steps: int = 32
    baseline: str = "pad"
    # causal LM: the choices `target` is one of (each a single token after the prompt); the output is then
    # log p(target | prompt) − logsumexp over the choices, the log-softmax of the choice among them
    contrast: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attribution:
    """Per-token attributions (special tokens included, `special` marks them)."""

    tokens: list[str]
    token_ids: list[int]
    offsets: list[tuple[int, int]]
    special: list[bool]
    scores: np.ndarray              # (len(tokens),) float64
    output: float                   # f(input)
    baseline_output: float          # f(baseline)
    steps: int

    @property
    def completeness_gap(self) -> float:
        """|sum of attributions − (f(x) − f(baseline))|: 0 for exact integrated gradients."""
        return abs(float(self.scores.sum()) - (self.output - self.baseline_output))


@dataclass(frozen=True)
class GenerationSettings:
    """How to generate; every field is part of the cache key (see generate_ops)."""

    max_new_tokens: int = 32
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()          # the text is cut before the first stop string
    chat: bool = True                   # wrap the prompt in the chat template when the model has one


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt; `seed` seeds this request's own sampler (ignored when greedy), so a sampled text
    depends on the prompt, the seed and the settings only, never on what else is in the batch."""

    prompt: str
    seed: int = 0


@dataclass(frozen=True)
class Generation:
    text: str
    n_tokens: int             # generated tokens (before cutting at a stop string)
    finish: str               # "eos", "stop" or "length"
    prompt_tokens: int


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
    @property
    def pad_token_id(self) -> int: ...
    def tokenize(self, texts: Sequence[str], add_special_tokens: bool = True) -> list[list[int]]: ...
    def encode(self, texts: Sequence[str]) -> list[Encoding]: ...
    def decode_tokens(self, ids: Sequence[int]) -> list[str]: ...

    # -- batched model calls
    def classify(self, texts: Sequence[str], *, cache: CachePolicy = CachePolicy.PERSIST
                 ) -> np.ndarray: ...  # (n, n_labels)
    def classify_ids(self, inputs: Sequence[IdsInput], *, cache: CachePolicy = CachePolicy.PERSIST
                     ) -> np.ndarray: ...
    def losses(self, requests: Sequence[LossRequest]) -> np.ndarray: ...       # (n,) nats
    def gradients(self, requests: Sequence[GradientRequest]) -> list[Attribution]: ...
    def loglikelihood(self, requests: Sequence[tuple[str, str]], *,
                      cache: CachePolicy = CachePolicy.PERSIST) -> list[LoglikelihoodResult]: ...
    def token_logprobs(self, texts: Sequence[str]) -> list[TokenLogprobs]: ...
    def masked_scores(self, queries: Sequence[MaskedQuery]) -> list[np.ndarray]: ...  # log-probs per target
    def mask_fill(self, texts: Sequence[str], top_k: int = 5) -> list[list[Fill]]: ...
    def attentions(self, texts: Sequence[str]) -> list[AttentionResult]: ...
    def embed(self, texts: Sequence[str], *, cache: CachePolicy = CachePolicy.PERSIST
              ) -> np.ndarray: ...                                            # (n, hidden)
    def generate(self, requests: Sequence[GenerationRequest], settings: GenerationSettings, *,
                 cache: CachePolicy = CachePolicy.PERSIST) -> list[Generation]: ...


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
