"""Metrics, per-example outcomes and verdict findings of the explainability suite, from an Evaluation.

Every number is a mean over the explained examples with a seeded bootstrap CI; the chance baseline
(a seeded random ranking) is reported as method "random", and each method is compared with it
pairwise over the same examples (paired bootstrap), which decides the "beats chance" verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from audit.results import Finding, Metric, Outcomes, Severity, SuiteResult, UNIT_PROPORTION
from audit.stats import PairedComparison, bootstrap_mean, paired_bootstrap, wilson_interval
from suites.explainability.config import RANDOM
from suites.explainability.evaluate import Evaluation

COMPREHENSIVENESS = "explain.comprehensiveness_aopc"
SUFFICIENCY = "explain.sufficiency_aopc"
COMPREHENSIVENESS_GAIN = "explain.comprehensiveness_over_random"
SUFFICIENCY_GAIN = "explain.sufficiency_over_random"
LOO_CORRELATION = "explain.loo_rank_correlation"
AGREEMENT = "explain.agreement_spearman"
TOP_K = "explain.agreement_top_k"
STABILITY = "explain.stability"
IG_GAP = "explain.ig_completeness_gap"
IG_RELATIVE_GAP = "explain.ig_relative_completeness_gap"
SECONDS = "explain.seconds_per_explanation"
MODEL_CALLS = "explain.model_calls_per_explanation"
BEATING_CHANCE = "explain.methods_beating_chance"
IG_GROUP = {"method": "integrated_gradients"}

RELATIVE_GAP_WARN = 0.1   # IG with a completeness gap above 10% of f(x) − f(baseline) needs more steps

Seed = Callable[..., int]


@dataclass(frozen=True)
class Verdict:
    method: str
    comprehensiveness: PairedComparison   # method − random (higher: better than chance)
    sufficiency: PairedComparison         # random − method (higher: better than chance)

    @property
    def beats_chance(self) -> bool:
        return self.comprehensiveness.ci_low > 0


def _mean_metric(name: str, values: np.ndarray, seed: int, **fields) -> Metric | None:
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    return Metric.from_estimate(name, bootstrap_mean(finite, seed=seed), **fields)


def _outcomes(name: str, group: dict[str, str], ids: list[str], values: np.ndarray) -> Outcomes | None:
    keep = [(i, float(v)) for i, v in zip(ids, values) if np.isfinite(v)]
    if not keep:
        return None
    return Outcomes(metric=name, group=group, example_ids=[i for i, _ in keep], values=[v for _, v in keep])


def add_faithfulness(result: SuiteResult, ev: Evaluation, unit: str, seed: Seed) -> list[Verdict]:
    """Comprehensiveness, sufficiency and LOO correlation per method (random included), and the
    paired comparison of each method with the random ranking."""
    for method in ev.comprehensiveness:
        group = {"method": method}
        rows = (
            (COMPREHENSIVENESS, ev.comprehensiveness[method], dict(higher_is_better=True, unit=unit,
             description="AOPC of f(x) − f(x without the top k% tokens), k = 10..100% (ferret)")),
            (SUFFICIENCY, ev.sufficiency[method], dict(higher_is_better=False, unit=unit,
             description="AOPC of f(x) − f(top k% tokens alone), k = 10..100% (ferret)")),
            (LOO_CORRELATION, ev.loo_correlation.get(method), dict(higher_is_better=True,
             description="Spearman correlation of the scores with leave-one-out removal drops")),
        )
        for name, values, fields in rows:
            if values is None:
                continue
            metric = _mean_metric(name, values, seed(name, method), group=group, **fields)
            if metric is not None:
                result.metrics.append(metric)
            outcome = _outcomes(name, group, ev.example_ids, values)
            if outcome is not None:
                result.outcomes.append(outcome)
    verdicts = []
    if RANDOM not in ev.comprehensiveness or len(ev.example_ids) < 2:
        return verdicts
    for method in [m for m in ev.comprehensiveness if m != RANDOM]:
        comp = paired_bootstrap(ev.comprehensiveness[RANDOM], ev.comprehensiveness[method],
                                seed=seed(COMPREHENSIVENESS_GAIN, method))
        suff = paired_bootstrap(ev.sufficiency[method], ev.sufficiency[RANDOM], seed=seed(SUFFICIENCY_GAIN, method))
        for name, cmp, what in ((COMPREHENSIVENESS_GAIN, comp, "comprehensiveness AOPC of the method minus the "
                                                               "random ranking's, paired over examples"),
                                (SUFFICIENCY_GAIN, suff, "sufficiency AOPC of the random ranking minus the "
                                                         "method's, paired over examples")):
            result.metrics.append(Metric(name=name, value=cmp.difference, ci_low=cmp.ci_low, ci_high=cmp.ci_high,
                                         n=cmp.n, ci_method=cmp.test, group={"method": method},
                                         higher_is_better=True, unit=unit, description=what))
        verdicts.append(Verdict(method, comp, suff))
    return verdicts


def verdict_findings(verdicts: list[Verdict], ev: Evaluation, unit: str) -> list[Finding]:
    """One finding per method (does it beat chance?) and which method to trust most."""
    findings = []
    for v in verdicts:
        c, s = v.comprehensiveness, v.sufficiency
        comp = float(np.mean(ev.comprehensiveness[v.method]))
        rand = float(np.mean(ev.comprehensiveness[RANDOM]))
        text = (f"comprehensiveness AOPC {comp:.3f} vs {rand:.3f} for a random ranking "
                f"(difference {c.difference:+.3f}, "
                f"95% CI [{c.ci_low:+.3f}, {c.ci_high:+.3f}], p = {c.p_value:.3f}, n = {c.n}); sufficiency "
                f"better than random by {s.difference:+.3f} [{s.ci_low:+.3f}, {s.ci_high:+.3f}] ({unit})")
        if v.beats_chance:
            message, severity = f"{v.method} beats chance: {text}", Severity.INFO
        elif c.ci_high < 0:
            message, severity = f"{v.method} is worse than a random ranking: {text}", Severity.WARN
        else:
            message, severity = f"{v.method} does not beat a random ranking: {text}", Severity.WARN
        findings.append(Finding(severity=severity, message=message, metric=COMPREHENSIVENESS_GAIN,
                                evidence={"method": v.method, "beats_chance": v.beats_chance,
                                          "difference": c.difference, "ci_low": c.ci_low, "ci_high": c.ci_high,
                                          "p_value": c.p_value, "n": c.n}))
    trusted = [v for v in verdicts if v.beats_chance]
    if trusted:
        best = max(trusted, key=lambda v: v.comprehensiveness.difference)
        findings.append(Finding(severity=Severity.INFO, metric=COMPREHENSIVENESS,
                                message=f"most faithful on these examples: {best.method} (largest comprehensiveness "
                                        f"gain over a random ranking, "
                                        f"{best.comprehensiveness.difference:+.3f} {unit}); "
                                        f"{len(trusted)} of {len(verdicts)} methods beat chance",
                                evidence={"method": best.method, "beat_chance": [v.method for v in trusted]}))
    elif verdicts:
        findings.append(Finding(severity=Severity.WARN, metric=COMPREHENSIVENESS,
                                message="no explanation method beats a random ranking on these examples: "
                                        "do not trust their token attributions", evidence={}))
    return findings


def add_headline(result: SuiteResult, verdicts: list[Verdict]) -> None:
    """The share of methods whose comprehensiveness beats the random ranking (the report's headline)."""
    if not verdicts:
        return
    beating = sum(v.beats_chance for v in verdicts)
    result.metrics.append(Metric.from_estimate(
        BEATING_CHANCE, wilson_interval(beating, len(verdicts)), higher_is_better=True, unit=UNIT_PROPORTION,
        description=f"{beating} of {len(verdicts)} methods rank tokens better than chance (comprehensiveness gain "
                    "over a random ranking with a paired-bootstrap CI above 0); the Wilson CI treats the "
                    "methods as a sample and is indicative only"))


def add_agreement(result: SuiteResult, ev: Evaluation, k: int, seed: Seed) -> None:
    for (a, b), values in ev.agreement.items():
        group = {"method_a": a, "method_b": b}
        for name, arr, fields in ((AGREEMENT, values, dict(higher_is_better=True,
                                   description="Spearman rank correlation of two methods' token scores")),
                                  (TOP_K, ev.top_k[(a, b)], dict(higher_is_better=True, unit=UNIT_PROPORTION,
                                   description=f"share of the top-{k} tokens the two methods have in common"))):
            metric = _mean_metric(name, arr, seed(name, a, b), group=group, **fields)
            if metric is not None:
                result.metrics.append(metric)


def add_stability(result: SuiteResult, ev: Evaluation, seed: Seed) -> None:
    for method, values in ev.stability.items():
        group = {"method": method}
        metric = _mean_metric(STABILITY, values, seed(STABILITY, method), group=group, higher_is_better=True,
                              description="Spearman correlation of word attributions on a text and "
                                                     "on the same text with a typo in its least important word")
        if metric is not None:
            result.metrics.append(metric)
        outcome = _outcomes(STABILITY, group, ev.example_ids, values)
        if outcome is not None:
            result.outcomes.append(outcome)


def add_ig(result: SuiteResult, ids: list[str], gaps: np.ndarray, relative: np.ndarray, unit: str,
           seed: Seed) -> list[Finding]:
    for name, values, fields in ((IG_GAP, gaps, dict(unit=unit, description="|Σ attributions − (f(x) − "
                                                      "f(baseline))| per explanation")),
                                 (IG_RELATIVE_GAP, relative, dict(description="completeness gap / |f(x) − "
                                                                  "f(baseline)|"))):
        metric = _mean_metric(name, values, seed(name), group=IG_GROUP, higher_is_better=False, **fields)
        if metric is not None:
            result.metrics.append(metric)
        outcome = _outcomes(name, IG_GROUP, ids, values)
        if outcome is not None:
            result.outcomes.append(outcome)
    finite = relative[np.isfinite(relative)]
    if finite.size and float(finite.mean()) > RELATIVE_GAP_WARN:
        return [Finding(severity=Severity.WARN, metric=IG_RELATIVE_GAP,
                        message=f"integrated gradients' completeness gap is {float(finite.mean()):.0%} of "
                                "f(x) − f(baseline) on average: the path integral is not converged (raise "
                                "integrated_gradients.steps or change the baseline)",
                        evidence={"mean_relative_gap": float(finite.mean())})]
    return []


def add_costs(result: SuiteResult, costs: dict[str, dict[str, object]], per_subject: dict[str, np.ndarray],
              seed: Seed) -> None:
    """Seconds per explanation (a measured cost, no CI) and model evaluations per explanation (with a CI)."""
    for method, cost in costs.items():
        n = int(cost["explanations"])  # type: ignore[arg-type]
        if n == 0:
            continue
        result.metrics.append(Metric(name=SECONDS, value=float(cost["seconds"]) / n, n=n,  # type: ignore[arg-type]
                                     group={"method": method}, higher_is_better=False, unit="s",
                                     description="wall time of the method / explanations made (a cost, not an "
                                                 "estimate: no CI); the machine's load shows in it"))
        metric = _mean_metric(MODEL_CALLS, per_subject[method], seed(MODEL_CALLS, method), group={"method": method},
                              higher_is_better=False, description="inputs the model computed per explanation "
                              "(distinct masked inputs; integrated gradients: steps + 2 rows with a backward pass)")
        if metric is not None:
            result.metrics.append(metric)
