"""A bag-of-words linear classifier behind the ModelAdapter protocol: its true attributions are known.

p(positive | tokens) = bias + Σ weight(token) over the non-special tokens present (weights small
enough to stay inside [0, 1]); p(negative) = 1 − p(positive). Hiding a token removes its term,
so the Shapley value, the leave-one-out drop and the integrated gradient of token i are all
weight(token_i) (negated for the negative label). Tokens are lower-cased whitespace words.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from audit.models.adapters.base import (AttentionResult, Attribution, CachePolicy, Capability, Encoding, GradientRequest,
                                 IdsInput, ModelKind)
from audit.errors import DataError

PAD, CLS, SEP, MASK = 0, 1, 2, 3
FIRST_WORD_ID = 10
LAYERS, HEADS = 2, 2


class BowAdapter:
    kind = ModelKind.CLASSIFIER
    capabilities = frozenset({Capability.CLASSIFY, Capability.CLASSIFY_IDS, Capability.ENCODE, Capability.TOKENIZE,
                              Capability.GRADIENTS, Capability.ATTENTIONS})
    device = "cpu"
    mask_token = "[MASK]"
    mask_token_id = MASK
    pad_token_id = PAD

    def __init__(self, weights: dict[str, float], bias: float = 0.5, max_length: int = 64) -> None:
        self.name = "bow"
        self.fingerprint = "bow"
        self.weights = dict(weights)
        self.bias = bias
        self.max_length = max_length
        self.vocab: dict[str, int] = {}
        self.seen: list[tuple[int, ...]] = []      # every input classify_ids computed
        self.calls: dict[str, int] = {}

    @property
    def labels(self) -> list[str]:
        return ["negative", "positive"]

    # ---------------------------------------------------------------- tokenizer
    def _id(self, word: str) -> int:
        return self.vocab.setdefault(word, FIRST_WORD_ID + len(self.vocab))

    def word_weight(self, token_id: int) -> float:
        words = {i: w for w, i in self.vocab.items()}
        return self.weights.get(words.get(token_id, ""), 0.0)

    def encode(self, texts: Sequence[str]) -> list[Encoding]:
        self.calls["encode"] = self.calls.get("encode", 0) + 1
        out = []
        for text in texts:
            spans = [m.span() for m in re.finditer(r"\S+", text)]
            truncated = len(spans) > self.max_length - 2
            spans = spans[:self.max_length - 2]
            ids = [CLS] + [self._id(text[a:b].lower()) for a, b in spans] + [SEP]
            out.append(Encoding(input_ids=ids, offsets=[(0, 0)] + spans + [(0, 0)],
                                special=[True] + [False] * len(spans) + [True], truncated=truncated))
        return out

    def tokenize(self, texts: Sequence[str], add_special_tokens: bool = True) -> list[list[int]]:
        return [e.input_ids for e in self.encode(texts)]

    def decode_tokens(self, ids: Sequence[int]) -> list[str]:
        words = {i: w for w, i in self.vocab.items()}
        return [words.get(int(i), {CLS: "[CLS]", SEP: "[SEP]", MASK: "[MASK]", PAD: "[PAD]"}.get(int(i), "?"))
                for i in ids]

    # ---------------------------------------------------------------- model
    def p_positive(self, ids: Sequence[int]) -> float:
        return self.bias + sum(self.word_weight(i) for i in ids if i >= FIRST_WORD_ID)

    def classify_ids(self, inputs: Sequence[IdsInput], *, cache: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        self.calls["classify_ids"] = self.calls.get("classify_ids", 0) + 1
        rows = []
        for item in inputs:
            if not item.input_ids:
                raise DataError("classify_ids input has no tokens")
            self.seen.append(tuple(item.input_ids))
            p = self.p_positive(item.input_ids)
            rows.append([1.0 - p, p])
        return np.array(rows, dtype=np.float64).reshape(-1, 2)

    def classify(self, texts: Sequence[str], *, cache: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        return self.classify_ids([IdsInput(tuple(e.input_ids)) for e in self.encode(texts)], cache=cache)

    def gradients(self, requests: Sequence[GradientRequest]) -> list[Attribution]:
        """Integrated gradients by Gauss–Legendre quadrature of the (constant) gradient along the path
        from the all-removed baseline: exact for this linear model."""
        self.calls["gradients"] = self.calls.get("gradients", 0) + 1
        out = []
        for request in requests:
            enc = self.encode([request.text])[0]
            sign = 1.0 if request.target == 1 else -1.0
            nodes, weights = np.polynomial.legendre.leggauss(request.steps)
            grad = np.array([0.0 if s else sign * self.word_weight(i) for i, s in zip(enc.input_ids, enc.special)])
            scores = sum(w / 2.0 * grad for w in weights)
            p = self.p_positive(enc.input_ids)
            output = p if request.target == 1 else 1.0 - p
            base = self.bias if request.target == 1 else 1.0 - self.bias
            out.append(Attribution(tokens=self.decode_tokens(enc.input_ids), token_ids=enc.input_ids,
                                   offsets=enc.offsets, special=enc.special, scores=np.asarray(scores),
                                   output=output, baseline_output=base, steps=request.steps))
        return out

    def attentions(self, texts: Sequence[str]) -> list[AttentionResult]:
        """Uniform attention: every token attends equally to every token."""
        out = []
        for enc in self.encode(texts):
            size = len(enc.input_ids)
            out.append(AttentionResult(tokens=self.decode_tokens(enc.input_ids),
                                       attentions=np.full((LAYERS, HEADS, size, size), 1.0 / size, dtype=np.float32)))
        return out
