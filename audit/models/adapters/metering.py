"""Count model queries per suite and per example, apart from cache hits, and enforce budgets.

Attacks and explainers promise "at most B queries per example" and report how many queries
reached the model. `QueryMeter` wraps any ModelAdapter: every batched call counts its requests
against the open scope (e.g. one example) and reads, from the adapter's cache statistics, how
many of them the model computed and how many the cache answered.

Budgets count *requests* (what the algorithm asked for), not cache misses, so an attack takes
the same path whether or not the cache is warm; misses and hits are reported next to it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from audit.models.adapters.base import ModelAdapter

# Adapter methods whose first argument is a list of requests (one model query each).
METERED_METHODS = ("classify", "classify_ids", "losses", "loglikelihood", "token_logprobs", "masked_scores",
                   "mask_fill", "embed", "attentions", "gradients", "generate")


class BudgetExceeded(RuntimeError):
    """A call would take a scope past its query budget (a bug in the caller: it must check first)."""


@dataclass
class QueryCount:
    """Requests asked for, model computations and cache answers, within one scope."""

    requests: int = 0        # requests handed to the adapter (what a budget counts)
    model_queries: int = 0   # distinct requests the model computed (cache misses)
    cache_hits: int = 0      # requests answered from the result cache
    duplicates: int = 0      # repeats inside one call, answered by the same computation
    budget: int | None = None

    @property
    def remaining(self) -> int | None:
        return None if self.budget is None else max(0, self.budget - self.requests)

    def as_dict(self) -> dict[str, int | None]:
        return {"requests": self.requests, "model_queries": self.model_queries, "cache_hits": self.cache_hits,
                "duplicates": self.duplicates, "budget": self.budget}


@dataclass
class QueryMeter:
    """Wraps `adapter`; call its methods through `meter.adapter` inside `meter.scope(key)`."""

    inner: ModelAdapter
    totals: QueryCount = field(default_factory=QueryCount)
    scopes: dict[str, QueryCount] = field(default_factory=dict)
    _open: list[QueryCount] = field(default_factory=list, repr=False)

    @property
    def adapter(self) -> "MeteredAdapter":
        return MeteredAdapter(self)

    @contextlib.contextmanager
    def scope(self, key: str, budget: int | None = None) -> Iterator[QueryCount]:
        """Count the calls made inside under `key` (created on first use; re-entering adds to it)."""
        count = self.scopes.setdefault(key, QueryCount(budget=budget))
        if budget is not None:
            count.budget = budget
        self._open.append(count)
        try:
            yield count
        finally:
            self._open.pop()

    def check(self, n_requests: int) -> None:
        """Refuse a call that would take any open scope past its budget (before the model runs)."""
        for count in [self.totals, *self._open]:
            if count.budget is not None and count.requests + n_requests > count.budget:
                raise BudgetExceeded(f"{n_requests} request(s) would exceed the budget of {count.budget} "
                                     f"({count.requests} used)")

    def charge(self, n_requests: int, hits: int, misses: int, duplicates: int) -> None:
        for count in [self.totals, *self._open]:
            count.requests += n_requests
            count.cache_hits += hits
            count.model_queries += misses
            count.duplicates += duplicates


class MeteredAdapter:
    """Forwards everything to the wrapped adapter; batched calls are charged to the open scopes."""

    def __init__(self, meter: QueryMeter) -> None:
        self._meter = meter

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._meter.inner, name)
        if name not in METERED_METHODS:
            return target

        def metered(requests: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
            stats = getattr(self._meter.inner, "cache_stats", None)
            before = stats.snapshot() if stats is not None else None
            n = len(requests)
            self._meter.check(n)
            out = target(requests, *args, **kwargs)
            if before is not None:
                hits, misses, dups = stats.since(before)
            else:
                hits, misses, dups = 0, n, 0
            self._meter.charge(n, hits, misses, dups)
            return out

        return metered
