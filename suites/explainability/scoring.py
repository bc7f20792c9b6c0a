"""Scores masked inputs for every method through one memo, so each distinct input reaches the model once.

Methods hand over (subject, keep-vector) pairs in large lists; identical masked inputs within one
explanation, across examples and across methods (SHAP's empty and full coalitions, occlusion's
leave-one-out inputs that faithfulness asks for again, ...) are looked up, and only the new ones
go to the adapter, in one batched call (whose result cache, in MEMORY mode, does the rest).
Requests and model evaluations are counted per (method, subject): the cost table of the report.

Calls of the `persisted` methods (the evaluation's own masked inputs) are kept whole in the model's
result store: a rerun with the same explanations gets the same values and replays the costs the
computing run counted, so its report is the same.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Collection, Hashable, Sequence

import numpy as np

from suites.explainability.objective import Objective
from suites.explainability.result_store import AttributionStore, subject_digest
from suites.explainability.subjects import Subject
from suites.explainability.tokens import Masking


@dataclass
class Cost:
    requests: int = 0        # inputs the method asked for
    evaluations: int = 0     # distinct inputs the model computed for it (the first asker pays)


STAGE_KIND = "explain.stage"   # the store's kind of a persisted call


class Scorer:
    def __init__(self, objective: Objective, subjects: Sequence[Subject], store: AttributionStore | None = None,
                 persisted: Collection[str] = ()) -> None:
        self.objective = objective
        self.subjects = list(subjects)
        self.store = store
        self.persisted = frozenset(persisted)
        self._digests: dict[int, str] = {}
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

    def digest(self, i: int) -> str:
        if i not in self._digests:
            self._digests[i] = subject_digest(self.subjects[i])
        return self._digests[i]

    def values(self, method: str, items: Sequence[tuple[int, np.ndarray]],
               masking: Masking = Masking.REMOVE) -> np.ndarray:
        """f(subject with the features where keep is False hidden), one value per item."""
        if self.store is None or method not in self.persisted or not items:
            return self._values(method, items, masking)
        order = list(dict.fromkeys(i for i, _ in items))
        key = self.store.key(STAGE_KIND, {
            "stage": method, "masking": masking.value, "unit": self.objective.unit,
            "items": [[self.digest(i), np.packbits(np.asarray(keep, dtype=bool)).tobytes().hex(), len(keep)]
                      for i, keep in items]})
        entry = self.store.get_many([key]).get(key)
        if entry is not None:
            for i, (requests, evaluations) in zip(order, entry["costs"]):
                self.charge(method, self.subjects[i].id, requests, evaluations)
            self.replay(entry["calls"], entry["inputs"], entry["seconds"])
            return np.asarray(entry["values"], dtype=np.float64)
        before = [self.cost_of(method, i) for i in order]
        counters = (self.adapter_calls, self.model_inputs, self.model_seconds)
        out = self._values(method, items, masking)
        costs = [[a - b for a, b in zip(self.cost_of(method, i), was)] for i, was in zip(order, before)]
        self.store.put_many({key: {"values": out, "costs": costs, "calls": self.adapter_calls - counters[0],
                                   "inputs": self.model_inputs - counters[1],
                                   "seconds": self.model_seconds - counters[2]}})
        return out

    def cost_of(self, method: str, i: int) -> tuple[int, int]:
        cost = self.costs.get((method, self.subjects[i].id))
        return (cost.requests, cost.evaluations) if cost is not None else (0, 0)

    def replay(self, calls: int, inputs: int, seconds: float) -> None:
        """Counters of model work done by the run that stored a result (the planner's unit cost)."""
        self.adapter_calls += calls
        self.model_inputs += inputs
        self.model_seconds += seconds

    def _values(self, method: str, items: Sequence[tuple[int, np.ndarray]], masking: Masking) -> np.ndarray:
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
