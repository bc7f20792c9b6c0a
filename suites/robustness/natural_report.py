"""Metrics, per-example outcomes, views and findings of the natural-perturbation parts."""

from __future__ import annotations

from typing import Any

import numpy as np

from audit.results import (UNIT_PROPORTION, Condition, Example, Finding, Metric, Outcomes, Severity, SuiteResult)
from suites.robustness import views
from audit.stats.multiple_testing import holm
from suites.robustness.metrics import (PERTURB_ACCURACY, PERTURB_CHANGE, PERTURBATION_KEY, SEVERITY_KEY, accuracy,
                                       flips, paired_change, worst_case)
from suites.robustness.natural import ConditionRun, NaturalRun
from suites.robustness.perturbations import CATALOGUE

SIGNIFICANCE = 0.05


def _outcomes(name: str, run: NaturalRun, values: np.ndarray, condition: Condition,
              group: dict[str, str] | None = None) -> Outcomes:
    return Outcomes(metric=name, group=group, condition=condition, example_ids=list(run.ids),
                    values=[float(v) for v in values])


def _accuracy_metric(correct: np.ndarray, condition: Condition, description: str,
                     group: dict[str, str] | None = None) -> Metric:
    return Metric.from_estimate(PERTURB_ACCURACY, accuracy(correct), group=group, condition=condition,
                                higher_is_better=True, unit=UNIT_PROPORTION, description=description)


def report_natural(run: NaturalRun, result: SuiteResult, *, data_label: str, label_names: list[str],
                   examples_shown: int, key: str) -> None:
    """Append everything about `run` to `result`; `key` names the part in details and titles."""
    clean = run.clean.correct
    clean_metric = _accuracy_metric(clean, Condition.ORIGINAL, f"accuracy on the clean texts ({data_label})")
    result.metrics.append(clean_metric)
    result.outcomes.append(_outcomes(PERTURB_ACCURACY, run, clean, Condition.ORIGINAL))
    by_name = {c.perturbation: c.correct for c in run.perturbed}
    worst = worst_case(clean, by_name)
    worst_metric = _accuracy_metric(worst, Condition.WORST_CASE, "correct on the clean text and under every "
                                    "perturbation") if run.perturbed else None
    if worst_metric is not None:
        result.metrics.append(worst_metric)
        result.outcomes.append(_outcomes(PERTURB_ACCURACY, run, worst, Condition.WORST_CASE))
    rows, estimates, drops = [], {}, []
    comparisons = [paired_change(clean, c.correct) for c in run.perturbed]
    adjusted = holm([c.p_value for c in comparisons]) if comparisons else []
    for condition, comparison, p_holm in zip(run.perturbed, comparisons, adjusted):
        group = {PERTURBATION_KEY: condition.perturbation}
        metric = _accuracy_metric(condition.correct, Condition.PERTURBED,
                                  f"{CATALOGUE[condition.perturbation].what}; severity {condition.severity:g}", group)
        result.metrics.append(metric)
        result.outcomes.append(_outcomes(PERTURB_ACCURACY, run, condition.correct, Condition.PERTURBED, group))
        result.metrics.append(Metric(
            name=PERTURB_CHANGE, value=comparison.difference, ci_low=comparison.ci_low, ci_high=comparison.ci_high,
            n=comparison.n, ci_method="Agresti-Min (paired)", group=group, condition=Condition.PERTURBED,
            higher_is_better=True, unit=UNIT_PROPORTION,
            description=f"perturbed minus clean accuracy, same examples; exact McNemar p = {comparison.p_value:.3g}"))
        estimates[condition.perturbation] = metric
        broke, fixed = flips(clean, condition.correct)
        rows.append([condition.perturbation, condition.severity, float(condition.changed.mean()), metric.value,
                     f"{metric.ci_low:.3f}–{metric.ci_high:.3f}", comparison.difference, comparison.p_value, p_holm,
                     broke, fixed])
        if p_holm < SIGNIFICANCE and comparison.difference < 0:
            drops.append((condition.perturbation, comparison.difference, p_holm))
    _sweep(run, result)
    title_part = f"{key}: " if key else ""
    result.views.append(views.accuracy_bars(
        f"{title_part}accuracy under natural perturbations ({data_label})", clean_metric, estimates, worst_metric,
        caption=f"95% Wilson intervals, n = {run.n} examples, the same examples in every bar; the line is clean "
                "accuracy. Worst case: right on the clean text and under every perturbation."))
    result.views.append(views.table(
        f"{title_part}perturbations vs clean, paired", ["perturbation", "severity", "texts changed", "accuracy",
                                                         "95% CI", "change", "McNemar p", "Holm p", "right→wrong",
                                                         "wrong→right"], rows,
        caption="change = perturbed minus clean accuracy on the same examples; the exact McNemar test uses the "
                "discordant pairs (right→wrong, wrong→right); Holm p adjusts for testing every perturbation."))
    if drops:
        listed = ", ".join(f"{name} {diff:+.3f}" for name, diff, _ in drops)
        result.findings.append(Finding(
            severity=Severity.WARN, metric=PERTURB_CHANGE,
            message=f"{title_part}accuracy drops significantly (Holm-adjusted McNemar p < {SIGNIFICANCE}) under "
                    f"{len(drops)} of {len(run.perturbed)} perturbations: {listed}",
            evidence={"drops": {name: {"change": diff, "p_holm": p} for name, diff, p in drops}, "n": run.n}))
    shown = perturbed_examples(run, label_names, examples_shown)
    if shown:
        result.views.append(views.example_list(f"{title_part}perturbed examples", shown,
                                               caption="Changed tokens are highlighted; a flipped prediction first."))


def _sweep(run: NaturalRun, result: SuiteResult) -> None:
    """Sweep metrics (group: perturbation and severity) and the accuracy-vs-severity chart, which also
    plots the perturbation's main condition (its configured severity) when it was run."""
    curves: dict[str, Any] = {}
    for condition in run.sweep:
        group = {PERTURBATION_KEY: condition.perturbation, SEVERITY_KEY: f"{condition.severity:g}"}
        result.metrics.append(_accuracy_metric(condition.correct, Condition.PERTURBED,
                                               f"severity sweep of {condition.perturbation}", group))
        result.outcomes.append(_outcomes(PERTURB_ACCURACY, run, condition.correct, Condition.PERTURBED, group))
        curves.setdefault(condition.perturbation, {})[condition.severity] = float(condition.correct.mean())
    for condition in run.perturbed:
        if condition.perturbation in curves:
            curves[condition.perturbation].setdefault(condition.severity, float(condition.correct.mean()))
    if curves:
        curves = {name: sorted(points.items()) for name, points in curves.items()}
        result.views.append(views.severity_lines("accuracy vs perturbation severity",
                                                 float(run.clean.correct.mean()), curves))


def perturbed_examples(run: NaturalRun, label_names: list[str], per_perturbation: int) -> list[Example]:
    """Per perturbation, the first examples it changed, those whose prediction it flipped first."""
    out = []
    for condition in run.perturbed:
        changed = np.flatnonzero(condition.changed)
        flipped = [i for i in changed if condition.predictions[i] != run.clean.predictions[i]]
        for i in (flipped + [i for i in changed if i not in flipped])[:per_perturbation]:
            out.append(_example(run, condition, int(i), label_names))
    return out


def _example(run: NaturalRun, condition: ConditionRun, i: int, label_names: list[str]) -> Example:
    clean_pred, pred = int(run.clean.predictions[i]), int(condition.predictions[i])
    return Example(
        id=f"{condition.perturbation}:{run.ids[i]}", text=condition.texts[i],
        spans=views.changed_token_spans(run.texts[i], condition.texts[i]),
        fields={"original": run.texts[i], "label": label_names[int(run.labels[i])],
                "prediction (clean)": label_names[clean_pred], "prediction (perturbed)": label_names[pred]},
        tags=[condition.perturbation] + (["prediction flipped"] if pred != clean_pred else []))
