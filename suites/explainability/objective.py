"""What is explained, as a function of which tokens are kept.

Classifier: f = p(target label | input), the input given as token ids (classify_ids), so a
masked input is exactly the ids we built. Causal LM: f = log p(continuation | prompt) in nats
(loglikelihood), the masked prompt given as text. Both are the quantities the adapter's
integrated gradients attribute, so every method explains the same number.
"""

from __future__ import annotations

from typing import Hashable, Protocol, Sequence

import numpy as np

from audit.models.adapters.base import CachePolicy, IdsInput, ModelAdapter, ModelKind
from suites.explainability.subjects import Subject
from suites.explainability.tokens import Masking

UNIT_PROBABILITY = "probability"
UNIT_NATS = "nats"


class Objective(Protocol):
    unit: str

    def key(self, subject: Subject, keep: np.ndarray, masking: Masking) -> Hashable:
        """The model input for `subject` with the features where keep is False hidden."""

    def evaluate(self, keys: Sequence[Hashable]) -> list[object]:
        """One batched adapter call for distinct inputs; one raw result per key."""

    def value(self, subject: Subject, raw: object) -> float:
        """f for `subject` from a raw result."""


class ClassifierObjective:
    """p(target | token ids); raw results are probability rows, shared by every target."""

    unit = UNIT_PROBABILITY

    def __init__(self, adapter: ModelAdapter) -> None:
        self.adapter = adapter

    def key(self, subject: Subject, keep: np.ndarray, masking: Masking) -> Hashable:
        return subject.units.masked_ids(keep, masking, self.adapter.mask_token_id)

    def evaluate(self, keys: Sequence[Hashable]) -> list[object]:
        probs = self.adapter.classify_ids([IdsInput(tuple(k)) for k in keys], cache=CachePolicy.MEMORY)
        return list(np.asarray(probs, dtype=np.float64))

    def value(self, subject: Subject, raw: object) -> float:
        return float(np.asarray(raw)[subject.target])


class ContinuationObjective:
    """log p(continuation | masked prompt) in nats (text masking: removal only)."""

    unit = UNIT_NATS

    def __init__(self, adapter: ModelAdapter) -> None:
        self.adapter = adapter

    def key(self, subject: Subject, keep: np.ndarray, masking: Masking) -> Hashable:
        assert subject.continuation is not None
        return subject.units.masked_text(keep), subject.continuation

    def evaluate(self, keys: Sequence[Hashable]) -> list[object]:
        results = self.adapter.loglikelihood([tuple(k) for k in keys], cache=CachePolicy.MEMORY)
        return [float(r.logprob) for r in results]

    def value(self, subject: Subject, raw: object) -> float:
        return float(raw)  # type: ignore[arg-type]


def objective_for(adapter: ModelAdapter) -> Objective:
    return ContinuationObjective(adapter) if adapter.kind == ModelKind.CAUSAL_LM else ClassifierObjective(adapter)
