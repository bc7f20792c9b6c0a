"""The explainability suite's attribution cache: a warm rerun (same result-cache folder, fresh adapter)
makes almost no model call and reproduces results.json bit for bit apart from timings; a changed
setting misses (null control); no result cache (or a disabled one) stores nothing."""

from __future__ import annotations

import json
from pathlib import Path

from audit.config.schema import ModelSpec
from audit.models.adapters.base import CachePolicy
from audit.data.resolver import DataResolver
from audit.models.adapters.cache import ResultCache
from audit.models.resolve import load_adapter
from audit.run.suite import Context
from suites.explainability.assemble import SECONDS
from suites.explainability.config import ExplainabilityConfig
from suites.explainability.result_store import AttributionStore
from suites.explainability.suite import ExplainabilitySuite
from tests.explain_fakes import BowAdapter
from tests.test_explain_suite import _csv

# Wall-clock fields: the only ones a warm run may change.
TIMINGS = {"seconds", "seconds_per_input", "estimated_seconds", "measured_seconds", "duration_s", "started_at",
           "finished_at"}


def _adapter(model_dir: Path, tmp_path: Path, cache_dir: Path | None):
    return load_adapter("clf", ModelSpec(path=str(model_dir), device="cpu"), prepared_dir=tmp_path,
                        cache_dir=cache_dir)


def _config(tmp_path: Path, **extra) -> dict:
    return {"examples": {"dataset": {"path": str(_csv(tmp_path))}, "n": 4}, "shap": {"max_evals": 40},
            "lime": {"num_samples": 40}, "integrated_gradients": {"steps": 4, "max_steps": 8},
            "stability": {"n": 2}, "precision": {"n": 2}, **extra}


def _run(adapter, tmp_path: Path, config: dict, seed: int = 0) -> tuple[dict, int]:
    """(results.json's view of the suite result, model queries the run made: requests the model computed,
    cached capabilities' misses plus every gradient row, counted by the adapter)."""
    ctx = Context(model_name="m", adapter=adapter, config=ExplainabilityConfig.model_validate(config), seed=seed,
                  data=DataResolver(config_dir=tmp_path, prepared_dir=tmp_path), artifacts_dir=tmp_path / "art")
    before = adapter.cache_stats.misses
    result = ExplainabilitySuite().run(ctx)
    return json.loads(result.model_dump_json()), adapter.cache_stats.misses - before


def _strip(value):
    """The value without wall-clock numbers (timing fields, the seconds metric and table column)."""
    if isinstance(value, dict):
        if value.get("name") == SECONDS:
            return {k: v for k, v in value.items() if k not in ("value", "ci_low", "ci_high", "std")}
        if value.get("title") == "Cost per explanation":
            return {**value, "rows": [row[:2] + row[3:] for row in value["rows"]]}
        return {k: _strip(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _diff(a, b, path="") -> list[str]:
    """Paths where two JSON values differ (for the failure message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _diff(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for n, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{path}[{n}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"[:300]]


def _scores(result: dict, method: str) -> list:
    return [e["scores"][method] for e in result["details"]["examples"]]


def test_warm_rerun_makes_no_model_calls_and_same_results(tiny_classifier_dir, tmp_path):
    cache = tmp_path / "cache"
    cold, cold_passes = _run(_adapter(tiny_classifier_dir, tmp_path, cache), tmp_path, _config(tmp_path))
    warm, warm_passes = _run(_adapter(tiny_classifier_dir, tmp_path, cache), tmp_path, _config(tmp_path))
    # left: the 4 unmasked inputs that pick each target and the attention maps of 4 texts + 2 typo variants
    assert cold_passes > 1000 and warm_passes <= 10, (cold_passes, warm_passes)
    assert _strip(warm) == _strip(cold), _diff(_strip(warm), _strip(cold))[:10]
    assert warm["details"]["costs"]["shap"]["evaluations"] > 0          # the method's cost, replayed
    assert any(s for s in _scores(cold, "shap"))

    # null control: another LIME budget and SHAP seed stream miss; the unchanged methods still hit
    changed, changed_passes = _run(_adapter(tiny_classifier_dir, tmp_path, cache), tmp_path,
                                   _config(tmp_path, lime={"num_samples": 48}))
    assert changed_passes > warm_passes + 5
    assert _scores(changed, "lime") != _scores(cold, "lime")
    assert _scores(changed, "shap") == _scores(cold, "shap")


def test_changed_seed_misses(tiny_classifier_dir, tmp_path):
    cache = tmp_path / "cache"
    config = _config(tmp_path, methods=["shap", "occlusion"], stability={"enabled": False},
                     precision={"n": 2, "other_masking": False})
    _run(_adapter(tiny_classifier_dir, tmp_path, cache), tmp_path, config)
    _, warm = _run(_adapter(tiny_classifier_dir, tmp_path, cache), tmp_path, config)
    config["examples"]["seed"] = 0           # the same examples; the explainers' seeds follow the run's seed
    _, reseeded = _run(_adapter(tiny_classifier_dir, tmp_path, cache), tmp_path, config, seed=1)
    assert reseeded > warm + 5


def test_disabled_cache_stores_nothing(tiny_classifier_dir, tmp_path):
    config = _config(tmp_path, methods=["occlusion", "integrated_gradients"], stability={"enabled": False})
    adapter = _adapter(tiny_classifier_dir, tmp_path, None)
    adapter.set_cache(ResultCache.off())
    _, cold = _run(adapter, tmp_path, config)
    _, again = _run(adapter, tmp_path, config)
    assert again == cold > 0
    adapter.set_cache(ResultCache(None))        # memory only: the same adapter then answers a rerun itself
    _run(adapter, tmp_path, config)
    _, warm = _run(adapter, tmp_path, config)
    assert warm < cold


def test_causal_lm_warm_rerun_same_results(tiny_causal_dir, tmp_path):
    cache = tmp_path / "cache"
    config = {"examples": {"task": "rt_polarity_mc", "n": 2}, "shap": {"max_evals": 30},
              "methods": ["occlusion", "shap", "integrated_gradients"], "integrated_gradients": {"steps": 4},
              "stability": {"n": 2}, "precision": {"n": 2}}
    load = lambda: load_adapter("lm", ModelSpec(path=str(tiny_causal_dir), device="cpu"),  # noqa: E731
                                prepared_dir=tmp_path, cache_dir=cache)
    cold, cold_queries = _run(load(), tmp_path, config)
    warm, warm_queries = _run(load(), tmp_path, config)
    assert cold_queries > 100 and warm_queries <= 4, (cold_queries, warm_queries)   # 2 examples x 2 choices
    assert _strip(warm) == _strip(cold), _diff(_strip(warm), _strip(cold))[:10]


def test_store_only_where_a_result_cache_is_on(tiny_classifier_dir, tmp_path):
    adapter = _adapter(tiny_classifier_dir, tmp_path, tmp_path / "cache")
    store = AttributionStore.for_adapter(adapter)
    assert store is not None and store.scope == adapter.cache_scope
    assert AttributionStore.for_adapter(adapter, CachePolicy.OFF) is None
    adapter.set_cache(ResultCache.off())
    assert AttributionStore.for_adapter(adapter) is None
    assert AttributionStore.for_adapter(BowAdapter({"good": 0.1})) is None      # no result cache: computed
