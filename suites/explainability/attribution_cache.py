"""Per-example attribution cache: a warm rerun answers each method's explanation of each subject from disk.

SHAP, LIME and occlusion ask the model for one-off masked inputs (kept in memory only) and integrated
gradients for gradients (never cached), so without this a rerun with a filled result cache recomputed
nearly the whole suite. An entry is keyed by (the model's cache scope — fingerprint, dtype, versions,
hardware; a randomised copy or the shortcut model has its own —, the method, every setting of it that
changes a number, the subject's seed, the subject's id, token units, target and objective, the code
version of the method files) and holds the attribution vector, the method's own details (SHAP's budget,
IG's completeness gap and steps) and the cost the computing run counted for it (requests, distinct model
evaluations, wall seconds).

A hit replays that cost into the scorer and the cost table (requests, distinct model evaluations and
seconds of the method as the computing run counted them: the cost of explaining, not of reading it back)
but makes no model call; the store's
statistics and the adapter's cache statistics count it as a cache hit. Attention rollout (one forward
pass per subject, whose maps the report draws) is not cached.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Sequence

import numpy as np

from suites.explainability.config import INTEGRATED_GRADIENTS, LIME, OCCLUSION, SHAP, ExplainabilityConfig
from suites.explainability.result_store import AttributionStore, keep_typed, restore_typed
from suites.explainability.scoring import Scorer

log = logging.getLogger("audit.explainability")

KIND = "explain.attribution"
CACHED_METHODS = (OCCLUSION, SHAP, LIME, INTEGRATED_GRADIENTS)
SEEDED_METHODS = (SHAP, LIME)
Compute = Callable[[list[int]], list[np.ndarray]]


def method_settings(method: str, cfg: ExplainabilityConfig) -> dict[str, Any]:
    """The settings of `method` that change its numbers (part of the key)."""
    if method == OCCLUSION:
        return {"masking": cfg.masking.value}
    if method == SHAP:
        return {"masking": cfg.masking.value, "max_evals": cfg.shap.max_evals, "max_evals_cap": cfg.shap.max_evals_cap,
                "batch_size": cfg.shap.batch_size, "exact_max_units": cfg.shap.exact_max_units}
    if method == LIME:
        return {"masking": cfg.masking.value, "num_samples": cfg.lime.num_samples,
                "kernel_width": cfg.lime.kernel_width}
    if method == INTEGRATED_GRADIENTS:
        ig = cfg.integrated_gradients
        return {"steps": ig.steps, "max_steps": ig.max_steps, "target_gap": ig.target_gap, "baseline": ig.baseline}
    raise ValueError(f"no cached settings for method {method!r}")


def pack_details(details: Any) -> Any:
    """A method's per-subject details (a dict) with numpy scalars kept typed."""
    if details is None:
        return None
    return {k: keep_typed(v) for k, v in details.items()}


def unpack_details(details: Any) -> Any:
    if details is None:
        return None
    return {k: restore_typed(v) for k, v in details.items()}


def run_cached(store: AttributionStore | None, method: str, indices: Sequence[int], *, scorer: Scorer,
               cfg: ExplainabilityConfig, seed_for: Callable[[int], int], compute: Compute,
               save: Callable[[int], Any] | None = None,
               restore: Callable[[int, Any], None] | None = None) -> tuple[list[np.ndarray], float]:
    """(scores of `method` for every subject in `indices`, wall seconds replayed): the stored ones replayed,
    the others computed (in one call of `compute`, which sees only the missing subjects) and stored.
    `save(i)` returns the method's details of subject i after computing, `restore(i, details)` puts them
    back on a hit. The seconds are those the computing run spent on the replayed explanations, so the
    cost table keeps the method's cost."""
    if store is None or method not in CACHED_METHODS:
        return compute(list(indices)), 0.0
    settings = method_settings(method, cfg)
    keys = {i: store.key(KIND, {"method": method, "settings": settings, "unit": scorer.objective.unit,
                                "seed": seed_for(i) if method in SEEDED_METHODS else None,
                                "subject": scorer.digest(i)}) for i in indices}
    found = store.get_many(list(keys.values()))
    missing = [i for i in indices if keys[i] not in found]
    scores: dict[int, np.ndarray] = {}
    if missing:
        before = {i: scorer.cost_of(method, i) for i in missing}
        counters = (scorer.adapter_calls, scorer.model_inputs, scorer.model_seconds)
        started = time.perf_counter()
        computed = compute(missing)
        wall = (time.perf_counter() - started) / len(missing)
        entries = {}
        for n, (i, score) in enumerate(zip(missing, computed)):
            requests, evaluations = (a - b for a, b in zip(scorer.cost_of(method, i), before[i]))
            first = n == 0      # the call's model counters go with its first subject, so their sum replays
            entries[keys[i]] = {
                "score": np.asarray(score), "requests": requests, "evaluations": evaluations,
                "calls": scorer.adapter_calls - counters[0] if first else 0,
                "inputs": scorer.model_inputs - counters[1] if first else 0,
                "seconds": scorer.model_seconds - counters[2] if first else 0.0, "wall": wall,
                "details": pack_details(save(i)) if save is not None else None}
            scores[i] = score
        store.put_many(entries)
    replayed = 0.0
    for i in indices:
        if i in scores:
            continue
        entry = found[keys[i]]
        scorer.charge(method, scorer.subjects[i].id, entry["requests"], entry["evaluations"])
        scorer.replay(entry["calls"], entry["inputs"], entry["seconds"])
        if restore is not None:
            restore(i, unpack_details(entry["details"]))
        scores[i] = entry["score"]
        replayed += entry["wall"]
    log.debug("explainability: %s: %d of %d explanations from the attribution cache", method,
              len(indices) - len(missing), len(indices))
    return [scores[i] for i in indices], replayed
