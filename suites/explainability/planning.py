"""The suite's plan: masked inputs each part will ask the model for, and what that costs at the measured
seconds per input. The plan never changes n (results stay reproducible on any machine); when it
exceeds `time_budget_s` a WARN says so and names the n that would fit."""

from __future__ import annotations

from typing import Sequence

from audit.results import Finding, Severity
from suites.explainability import faithfulness as F
from suites.explainability.config import (ATTENTION, INTEGRATED_GRADIENTS, LIME, OCCLUSION, SHAP,
                                          ExplainabilityConfig)
from suites.explainability.shap_method import partition_budget

BUDGET_DETAIL = "input_budget"   # SuiteResult.details key: planned inputs per method vs measured seconds

BACKWARD_FACTOR = 3.0   # an IG row (forward + backward, float32) costs about three forward passes


def method_inputs(method: str, tokens: Sequence[str], cfg: ExplainabilityConfig) -> float:
    """Model inputs one explanation of `tokens` asks for (an upper bound: the memo removes repeats)."""
    n = len(tokens)
    if method == OCCLUSION:
        return n + 1
    if method == SHAP:
        if 1 < n <= cfg.shap.exact_max_units:
            return 2 ** n
        return partition_budget(list(tokens), cfg.shap.max_evals, cfg.shap.max_evals_cap)[0]
    if method == LIME:
        return cfg.lime.num_samples
    if method == INTEGRATED_GRADIENTS:
        return (cfg.integrated_gradients.steps + 2) * BACKWARD_FACTOR
    return 1.0 if method == ATTENTION else 0.0


def plan(token_lists: Sequence[Sequence[str]], methods: list[str], cfg: ExplainabilityConfig, *,
         ground_truth_lists: Sequence[Sequence[str]], classifier: bool,
         stability_lists: Sequence[Sequence[str]] | None = None,
         precision_lists: Sequence[Sequence[str]] | None = None) -> dict[str, float]:
    """Inputs per part of the suite for these examples (main, faithfulness, each check); the shortcut's
    triggered sentences are estimated from the ground-truth examples' lengths."""
    def cost(lists: Sequence[Sequence[str]], chosen: Sequence[str]) -> float:
        return sum(method_inputs(m, t, cfg) for t in lists for m in chosen if m in methods)

    out = {"explanations": cost(token_lists, methods),
           "faithfulness": sum(2 * len(F.grid_sizes(len(t))) * (2 * len(methods) + 1) for t in token_lists)}
    if cfg.stability.enabled:
        stable = cfg.stability.methods if cfg.stability.methods is not None else methods
        out["stability"] = cost(stability_lists if stability_lists is not None else token_lists, stable)
    gt = cost(ground_truth_lists, methods)
    if cfg.ground_truth.randomisation.enabled:
        out["randomisation"] = 2 * gt
    if cfg.ground_truth.shortcut.enabled and classifier and ground_truth_lists:
        out["shortcut"] = gt * cfg.ground_truth.shortcut.n / len(ground_truth_lists)
    lists = precision_lists if precision_lists is not None else ground_truth_lists
    out["precision"] = (cost(lists, (SHAP, LIME, OCCLUSION)) * int(cfg.precision.other_masking and classifier)
                        + cost(lists, (SHAP, LIME)) * int(cfg.precision.seed_stability))
    return out


def plan_finding(planned: dict[str, float], seconds_per_input: float | None, budget: float | None,
                 n: int) -> tuple[dict, list[Finding]]:
    total = sum(planned.values())
    detail = {"inputs": {k: int(v) for k, v in planned.items()}, "total_inputs": int(total),
              "seconds_per_input": seconds_per_input, "time_budget_s": budget}
    if seconds_per_input is None:
        return detail, []
    estimate = total * seconds_per_input
    detail["estimated_seconds"] = round(estimate, 1)
    if budget is None or estimate <= budget:
        return detail, []
    fits = max(1, int(n * budget / estimate))
    return detail, [Finding(severity=Severity.WARN, message=(
        f"the explainability plan asks for {int(total):,} model inputs, about {estimate:.0f} s at the measured "
        f"{seconds_per_input * 1e3:.1f} ms per input, above the {budget:.0f} s budget; about {fits} examples "
        "would fit (the n is not changed, so results stay comparable)"), evidence=detail)]
