"""The metric names a suite declares it emits: what gates and the compliance mapping are checked against.

Why: suites, gates and the compliance mapping are tied by metric names. A typo in a mapping prefix or a
gate would otherwise turn silently into "not evidenced" or a gate that matches nothing. Each suite
declares its exact names (constants in its own modules) and, for names made at run time (an lm-eval
task's metrics), the families they start with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class MetricNames:
    """Exact metric names, plus prefixes of run-time names (e.g. "lm_eval." for lm-eval task metrics)."""

    names: frozenset[str] = frozenset()
    families: tuple[str, ...] = ()

    @classmethod
    def of(cls, names: Iterable[str], families: Iterable[str] = ()) -> "MetricNames":
        return cls(frozenset(names), tuple(families))

    def __or__(self, other: "MetricNames") -> "MetricNames":
        return MetricNames(self.names | other.names, self.families + other.families)

    def declares(self, name: str) -> bool:
        """Whether `name` is one of the declared names or belongs to a declared family."""
        return name in self.names or any(name.startswith(f) for f in self.families)

    def covers_prefix(self, prefix: str) -> bool:
        """Whether a mapping / caveat prefix can match something declared (it is no typo)."""
        return any(n.startswith(prefix) for n in self.names) or \
            any(prefix.startswith(f) or f.startswith(prefix) for f in self.families)


def unknown_prefixes(prefixes: Iterable[str], declared: MetricNames) -> list[str]:
    """The prefixes that match no declared metric name, sorted (an empty list: all are known)."""
    return sorted({p for p in prefixes if not declared.covers_prefix(p)})
