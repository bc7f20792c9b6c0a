"""What is explained, as a function of which tokens are kept.

Classifier: f = p(target label | input), the input given as token ids (classify_ids), so a
masked input is exactly the ids we built. Causal LM: f = log p(chosen | prompt) − logsumexp over
the task's choices, in nats (the log-softmax of the choice among the choices, from loglikelihood):
removing a review token moves both answers' log-probabilities, and only their contrast is the
choice. The masked prompt is given as text. Both are the quantities the adapter's
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
    """log p(chosen | masked prompt) − logsumexp over the choices, in nats (text masking: removal only).
    Raw results are the log-likelihoods of every choice, shared by every target."""

    unit = UNIT_NATS

    def __init__(self, adapter: ModelAdapter) -> None:
        self.adapter = adapter

    def key(self, subject: Subject, keep: np.ndarray, masking: Masking) -> Hashable:
        assert subject.continuation is not None
        return subject.units.masked_text(keep), subject.choices or (subject.continuation,)

    def evaluate(self, keys: Sequence[Hashable]) -> list[object]:
        requests = [(text, choice) for text, choices in keys for choice in choices]  # type: ignore[misc]
        results = self.adapter.loglikelihood(requests, cache=CachePolicy.MEMORY)
        out, at = [], 0
        for _, choices in keys:  # type: ignore[misc]
            out.append(np.array([float(r.logprob) for r in results[at:at + len(choices)]]))
            at += len(choices)
        return out

    def value(self, subject: Subject, raw: object) -> float:
        lp = np.asarray(raw, dtype=np.float64)
        if not subject.choices:
            return float(lp[0])
        top = lp.max()
        return float(lp[subject.target] - (top + np.log(np.exp(lp - top).sum())))


def objective_for(adapter: ModelAdapter) -> Objective:
    return ContinuationObjective(adapter) if adapter.kind == ModelKind.CAUSAL_LM else ClassifierObjective(adapter)
