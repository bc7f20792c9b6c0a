"""Where the suite keeps what it derived from a model: a namespace in that model adapter's result cache.

Explanations are functions of the model's outputs, so a warm rerun can read them back instead of asking
the model again for tens of thousands of one-off masked inputs ("never recompute what does not change").
Entries live in the same store as the adapter's own results (the SQLite file of the result cache, or the
shared backend of a cluster), under keys made like the adapter's: sha256 of (the adapter's cache scope —
model fingerprint, dtype, max length, device, hardware, torch / transformers / rai-audit versions —, a
kind, a canonical payload). The payload always carries `code_version()`: a digest of the suite files that
decide a number and of the explainer libraries' versions, so a change to any of them misses.

An adapter without a result cache (fakes, simulations) or with the cache disabled gets no store: every
explanation is computed, as before.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from audit.models.adapters.base import CachePolicy, ModelAdapter
from audit.models.adapters.cache import ResultCache, cache_key
from audit.versions import package_versions
from suites.explainability.subjects import Subject

STORE_VERSION = "1"     # bump when an entry's layout changes
# The files whose code changes an attribution or an evaluation value (masking, objective, explainers, replay).
CODE_FILES = ("attribution_cache.py", "exact_shapley.py", "integrated_gradients.py", "lime_method.py",
              "lockstep.py", "methods.py", "objective.py", "occlusion.py", "result_store.py", "scoring.py",
              "shap_method.py", "tokens.py", "faithfulness.py", "trust_scores.py")
LIBRARIES = ("shap", "lime", "numpy", "scipy", "scikit-learn")


def code_version() -> str:
    """Digest of CODE_FILES and the explainer libraries' versions."""
    digest = hashlib.sha256(STORE_VERSION.encode())
    folder = Path(__file__).parent
    for name in CODE_FILES:
        digest.update(name.encode() + b"\n" + (folder / name).read_bytes())
    digest.update(json.dumps(package_versions(LIBRARIES), sort_keys=True).encode())
    return digest.hexdigest()


def canonical(value: Any) -> str:
    """Deterministic text of a payload (tuples as lists, numpy scalars as numbers)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not canonical: {type(value).__name__}")


@dataclass
class StoreStats:
    """Entries found and entries computed (then stored) since the store was made."""

    hits: int = 0
    misses: int = 0


class AttributionStore:
    """get_many / put_many of derived results of one model, in its adapter's result cache."""

    def __init__(self, cache: ResultCache, scope: str, policy: CachePolicy = CachePolicy.PERSIST) -> None:
        self.cache = cache
        self.scope = scope
        self.policy = policy
        self.code = code_version()
        self.stats = StoreStats()

    @classmethod
    def for_adapter(cls, adapter: ModelAdapter, policy: CachePolicy = CachePolicy.PERSIST) -> "AttributionStore | None":
        """The store of `adapter`'s model; None when it has no (enabled) result cache or policy is OFF."""
        cache = getattr(adapter, "result_cache", None)
        scope = getattr(adapter, "cache_scope", None)
        if not isinstance(cache, ResultCache) or not cache.enabled or not isinstance(scope, str):
            return None
        if policy == CachePolicy.OFF:
            return None
        return cls(cache, scope, policy)

    def key(self, kind: str, payload: Any) -> str:
        return cache_key(self.scope, kind, canonical({"code": self.code, "payload": payload}))

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        found = self.cache.get_many(list(keys), self.policy)
        self.stats.hits += sum(1 for k in keys if k in found)
        self.stats.misses += sum(1 for k in keys if k not in found)
        return found

    def put_many(self, items: dict[str, Any]) -> None:
        self.cache.put_many(items, self.policy)


def keep_typed(value: Any) -> Any:
    """A numpy scalar as a 0-d array (the codec keeps its dtype), so a replayed number has the computed type."""
    return np.asarray(value) if isinstance(value, np.generic) else value


def restore_typed(value: Any) -> Any:
    return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value


def subject_digest(subject: Subject) -> str:
    """Everything of a subject that decides its explanation: id (costs are charged to it), token units,
    target, continuation and choices (the objective)."""
    units = subject.units
    payload = {"id": subject.id, "text": units.text, "ids": list(units.input_ids), "positions": list(units.positions),
               "offsets": [list(o) for o in units.offsets], "truncated": units.truncated,
               "boundaries": list(units.boundaries), "target": subject.target, "continuation": subject.continuation,
               "choices": list(subject.choices)}
    return hashlib.sha256(canonical(payload).encode("utf-8")).hexdigest()[:32]
