"""The suite's checks beyond faithfulness: ground truths (randomisation, planted shortcut), the sampled
methods' precision and SHAP's budget; each adds its metrics, table and findings, and returns its details."""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

from audit.models.adapters.base import ModelKind
from audit.results import Finding, Severity, SuiteResult
from audit.run.suite import Context
from suites.explainability.config import SHAP, ExplainabilityConfig
from suites.explainability.methods import MethodRuns
from suites.explainability.precision import precision_report, run_precision
from suites.explainability.randomisation import ground_truth_subset, randomisation_report, run_randomisation
from suites.explainability.scoring import Cost, Scorer
from suites.explainability.shortcut import run_shortcut, shortcut_report

SUITE = "explainability"


def _skip(result: SuiteResult, what: str, why: str) -> dict:
    result.findings.append(Finding(severity=Severity.INFO, message=f"{what} not run: {why}",
                                   evidence={"check": what}))
    return {"skipped": why}


def run_checks(result: SuiteResult, ctx: Context, cfg: ExplainabilityConfig, methods: list[str], scorer: Scorer,
               runs: MethodRuns, originals: list[int], seed_for: Callable[[str, int], int]) -> dict:
    details: dict = {"shap": shap_budget(result, scorer, runs, originals)}
    gt = cfg.ground_truth
    seed_of = lambda m, i: seed_for(m, i)  # noqa: E731

    if not gt.randomisation.enabled:
        details["randomisation"] = {"skipped": "disabled"}
    elif ctx.models is None or ctx.model_ref is None:
        details["randomisation"] = _skip(result, "model-parameter randomisation", "no model factory in this run")
    else:
        subset = ground_truth_subset(scorer, originals, gt.randomisation.n)
        subjects = [scorer.subjects[i] for i in subset]
        copies = run_randomisation(ctx, cfg, methods, subjects,
                                   lambda m, k: seed_for(m, subset[k]))
        trained = {m: [runs.scores[m][i] for i in subset] for m in methods}
        details["randomisation"] = randomisation_report(result, ctx, cfg, trained, copies,
                                                        [s.id for s in subjects])

    if not gt.shortcut.enabled:
        details["shortcut"] = {"skipped": "disabled"}
    elif ctx.adapter.kind != ModelKind.CLASSIFIER:
        details["shortcut"] = _skip(result, "planted shortcut", "it fine-tunes a classifier; this model is a "
                                    f"{ctx.adapter.kind.value}")
    elif ctx.models is None or ctx.model_ref is None:
        details["shortcut"] = _skip(result, "planted shortcut", "no model factory in this run")
    else:
        details["shortcut"] = shortcut_report(result, cfg, run_shortcut(
            ctx, cfg, methods, lambda m, i: ctx.sub_seed(SUITE, m, "shortcut", i)))

    subset = ground_truth_subset(scorer, originals, cfg.precision.n)
    main_costs, scorer.costs = scorer.costs, defaultdict(Cost)   # the re-runs' cost is counted apart
    measured = run_precision(ctx.adapter, scorer, cfg, methods, runs, subset, seed_of)
    rerun_cost = {"requests": sum(c.requests for c in scorer.costs.values()),
                  "evaluations": sum(c.evaluations for c in scorer.costs.values())}
    scorer.costs = main_costs
    details["precision"] = {"examples": [scorer.subjects[i].id for i in subset], "cost": rerun_cost,
                            **precision_report(result, cfg, ctx.adapter, measured, lambda *k: ctx.sub_seed(SUITE, *k))}
    return details


def shap_budget(result: SuiteResult, scorer: Scorer, runs: MethodRuns, originals: list[int]) -> dict:
    """Per example: the estimator and budget; a WARN when a partition queue was truncated."""
    info = {scorer.subjects[i].id: runs.shap_info[i] for i in originals if i in runs.shap_info}
    cut = {k: v for k, v in info.items() if v.get("truncated")}
    if SHAP in runs.scores and cut:
        result.findings.append(Finding(
            severity=Severity.WARN, metric=None,
            message=f"SHAP's partition queue was truncated on {len(cut)} of {len(info)} inputs (budget below the "
                    "evaluations that resolve every leaf): tokens of an unexpanded cluster share its value; raise "
                    "shap.max_evals_cap (or leave shap.max_evals unset)",
            evidence={"examples": {k: {"max_evals": v["max_evals"], "needed": v["needed"]} for k, v in cut.items()}}))
    return {"per_example": info, "truncated": len(cut)}
