"""Scores masked inputs for every method through one memo, so each distinct input reaches the model once.

Methods hand over (subject, keep-vector) pairs in large lists; identical masked inputs within one
explanation, across examples and across methods (SHAP's empty and full coalitions, occlusion's
leave-one-out inputs that faithfulness asks for again, ...) are looked up, and only the new ones
go to the adapter, in one batched call (whose result cache, in MEMORY mode, does the rest).
Requests and model evaluations are counted per (method, subject): the cost table of the report.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np

from suites.explainability.objective import Objective
from suites.explainability.subjects import Subject
from suites.explainability.tokens import Masking


@dataclass
class Cost:
    requests: int = 0        # inputs the method asked for
    evaluations: int = 0     # distinct inputs the model computed for it (the first asker pays)


class Scorer:
    def __init__(self, objective: Objective, subjects: Sequence[Subject]) -> None:
        self.objective = objective
        self.subjects = list(subjects)
        self._memo: dict[Hashable, object] = {}
        self.costs: dict[tuple[str, str], Cost] = defaultdict(Cost)
        self.adapter_calls = 0
        self.model_seconds = 0.0     # wall time inside the adapter's scoring calls
        self.model_inputs = 0        # distinct inputs those calls computed

    def add_subjects(self, subjects: Sequence[Subject]) -> list[int]:
        """Register more subjects (e.g. stability variants); returns their indices."""
        start = len(self.subjects)
        self.subjects.extend(subjects)
        return list(range(start, len(self.subjects)))

    def prime(self, key: Hashable, raw: object) -> None:
        """Remember a result computed elsewhere (e.g. the unmasked inputs scored to pick targets)."""
        self._memo.setdefault(key, raw)

    def values(self, method: str, items: Sequence[tuple[int, np.ndarray]],
               masking: Masking = Masking.REMOVE) -> np.ndarray:
        """f(subject with the features where keep is False hidden), one value per item."""
        keys = [self.objective.key(self.subjects[i], np.asarray(keep, dtype=bool), masking) for i, keep in items]
        fresh: dict[Hashable, int] = {}
        for (i, _), key in zip(items, keys):
            self.costs[(method, self.subjects[i].id)].requests += 1
            if key not in self._memo and key not in fresh:
                fresh[key] = i
                self.costs[(method, self.subjects[i].id)].evaluations += 1
        if fresh:
            self.adapter_calls += 1
            started = time.perf_counter()
            for key, raw in zip(fresh, self.objective.evaluate(list(fresh))):
                self._memo[key] = raw
            self.model_seconds += time.perf_counter() - started
            self.model_inputs += len(fresh)
        return np.array([self.objective.value(self.subjects[i], self._memo[key]) for (i, _), key in zip(items, keys)],
                        dtype=np.float64)

    def full(self, method: str, indices: Sequence[int]) -> np.ndarray:
        """f on the unmasked inputs."""
        return self.values(method, [(i, np.ones(len(self.subjects[i].units), dtype=bool)) for i in indices])

    @property
    def seconds_per_input(self) -> float | None:
        """Measured wall seconds per distinct masked input (the planner's unit cost)."""
        return self.model_seconds / self.model_inputs if self.model_inputs else None

    def distinct_inputs(self) -> list[Hashable]:
        """Every distinct model input scored so far (benchmarks time the bare forward passes over them)."""
        return list(self._memo)

    def charge(self, method: str, subject_id: str, requests: int, evaluations: int) -> None:
        """Cost of work done outside the memo (gradients, attention maps)."""
        cost = self.costs[(method, subject_id)]
        cost.requests += requests
        cost.evaluations += evaluations
