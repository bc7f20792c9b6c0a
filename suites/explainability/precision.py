"""The sampled and masking-dependent explainers' own precision, on a subset of the explained examples.

- Other masking: SHAP, LIME and occlusion hide a token by removing it or by the mask token; the
  report shows each one's Spearman agreement with itself under the other choice (shap.Explainer on
  a pipeline uses the mask token), so a reader sees how much the masking decides.
- Seed stability: LIME and SHAP re-run with another seed; the Spearman between the two runs is the
  method's own seed-to-seed noise (SHAP is deterministic once every leaf is resolved; LIME is not).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from audit.models.adapters.base import ModelAdapter, ModelKind
from audit.results import Finding, Metric, Severity, SuiteResult, TableView
from audit.stats import bootstrap_mean, spearman
from suites.explainability.config import LIME, OCCLUSION, SHAP, ExplainabilityConfig
from suites.explainability.methods import MethodRuns, run_methods
from suites.explainability.scoring import Scorer
from suites.explainability.tokens import Masking

MASKING_AGREEMENT = "explain.masking_agreement"
SEED_STABILITY = "explain.seed_stability"
MASKED_METHODS = (SHAP, LIME, OCCLUSION)
SEEDED_METHODS = (SHAP, LIME)
SECOND_SEED = "second-seed"


def other_masking(cfg: ExplainabilityConfig, adapter: ModelAdapter) -> Masking | None:
    if cfg.masking == Masking.MASK_TOKEN:
        return Masking.REMOVE
    if adapter.kind == ModelKind.CLASSIFIER and adapter.mask_token_id is not None:
        return Masking.MASK_TOKEN
    return None


def _per_example(a: dict[int, np.ndarray], b: dict[int, np.ndarray], subset: Sequence[int]) -> np.ndarray:
    return np.array([spearman(a[i], b[i]) for i in subset])


def run_precision(adapter: ModelAdapter, scorer: Scorer, cfg: ExplainabilityConfig, methods: list[str],
                  main: MethodRuns, subset: list[int], seed_for: Callable[[str, int], int]
                  ) -> dict[str, dict[str, np.ndarray]]:
    """{"masking": {method: per-example Spearman}, "seed": {...}} over `subset` (subject indices)."""
    out: dict[str, dict[str, np.ndarray]] = {"masking": {}, "seed": {}}
    other = other_masking(cfg, adapter)
    if cfg.precision.other_masking and other is not None:
        chosen = [m for m in MASKED_METHODS if m in methods]
        runs = MethodRuns()
        run_methods(chosen, subset, adapter=adapter, scorer=scorer, cfg=cfg.model_copy(update={"masking": other}),
                    seed_for=seed_for, runs=runs)
        out["masking"] = {m: _per_example(main.scores[m], runs.scores[m], subset) for m in chosen}
    if cfg.precision.seed_stability:
        chosen = [m for m in SEEDED_METHODS if m in methods]
        runs = MethodRuns()
        run_methods(chosen, subset, adapter=adapter, scorer=scorer, cfg=cfg,
                    seed_for=lambda m, i: seed_for(f"{m}-{SECOND_SEED}", i), runs=runs)
        out["seed"] = {m: _per_example(main.scores[m], runs.scores[m], subset) for m in chosen}
    return out


def precision_report(result: SuiteResult, cfg: ExplainabilityConfig, adapter: ModelAdapter,
                     measured: dict[str, dict[str, np.ndarray]], seed: Callable[..., int]) -> dict:
    other = other_masking(cfg, adapter)
    if cfg.precision.other_masking and other is None:
        result.findings.append(Finding(severity=Severity.INFO, message="agreement under the other masking not "
                                       "measured: the model has no mask token (it is masked by removal only)",
                                       evidence={"masking": cfg.masking.value}))
    rows = []
    other_name = other.value if other else "-"
    for kind, name, what in (("masking", MASKING_AGREEMENT, f"the same method with masking '{other_name}' "
                              f"instead of '{cfg.masking.value}'"),
                             ("seed", SEED_STABILITY, "the same method run with another seed")):
        for method, values in measured[kind].items():
            finite = values[np.isfinite(values)]
            if finite.size == 0:
                continue
            est = bootstrap_mean(finite, seed=seed(name, method))
            group = {"method": method} if kind == "seed" else {"method": method, "masking": other_name}
            result.metrics.append(Metric.from_estimate(name, est, group=group, higher_is_better=True,
                                                       description=f"Spearman of the method's scores with {what}"))
            rows.append([method, kind if kind == "seed" else f"masking: {other_name}",
                         round(est.value, 3), round(est.ci_low, 3), round(est.ci_high, 3), int(finite.size)])
    if rows:
        result.views.append(TableView(
            title="Precision of the sampled and masking-dependent methods",
            columns=["method", "re-run with", "mean Spearman", "CI low", "CI high", "n"], rows=rows,
            caption="1: the same ranking. 'masking': agreement with the same method under the other way of hiding a "
                    "token (shap.Explainer on a pipeline uses the mask token); 'seed': seed-to-seed stability."))
    return {"other_masking": other.value if other else None,
            "masking_agreement": {m: [float(v) for v in r] for m, r in measured["masking"].items()},
            "seed_stability": {m: [float(v) for v in r] for m, r in measured["seed"].items()}}
