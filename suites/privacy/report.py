"""Metrics and findings of the privacy suite, from the parts' measurements (no model calls)."""

from __future__ import annotations

import math

from audit.results import UNIT_PROPORTION, Condition, Finding, Metric, Severity, SuiteResult
from audit.stats import mcnemar, wilson_proportion
from suites.privacy.canary_part import FRESH, CanaryModel
from suites.privacy.dp_part import TrainedModel
from suites.privacy.metrics import (ATTACK_KEY, CANARY_EXPOSURE, CANARY_EXTRACTED, DP_ACCURACY, DP_ACCURACY_CHANGE,
                                    EMPIRICAL_EPSILON, FPR_KEY, METHOD_KEY, MIA_AUC, MIA_TPR_AT_FPR, MODEL_KEY,
                                    ONE_RUN_METHOD, REPEATS_KEY, ROC_METHOD, AttackEvaluation)
from audit.stats.dp_audit import OneRunAudit
from audit.stats.membership import clopper_pearson

CLAIM_GATE = "claimed_epsilon"
EPS = "\u03b5"


def attack_metrics(ev: AttackEvaluation) -> list[Metric]:
    base = {MODEL_KEY: ev.model, ATTACK_KEY: ev.scores.attack}
    auc = ev.auc.auc
    out = [Metric(name=MIA_AUC, value=auc.value, ci_low=auc.ci_low, ci_high=auc.ci_high, n=auc.n,
                  ci_method=auc.ci_method, group=dict(base), higher_is_better=False, ideal=0.5, unit=UNIT_PROPORTION,
                  description=f"membership-inference ROC AUC ({ev.auc.n_members} members, "
                              f"{ev.auc.n_nonmembers} non-members); 0.5 = the attack cannot tell them apart")]
    for t in ev.tpr:
        out.append(Metric(name=MIA_TPR_AT_FPR, value=t.tpr.value, ci_low=t.tpr.ci_low, ci_high=t.tpr.ci_high,
                          n=t.tpr.n, ci_method=t.tpr.ci_method, group={**base, FPR_KEY: f"{t.target_fpr:g}"},
                          higher_is_better=False, unit=UNIT_PROPORTION,
                          description=f"true-positive rate at false-positive rate <= {t.target_fpr:g} "
                                      f"(achieved {t.achieved_fpr:.4g})"))
    e = ev.epsilon
    out.append(Metric(name=EMPIRICAL_EPSILON, value=e.epsilon, ci_low=e.epsilon, ci_high=None, n=e.n_members + e.n_nonmembers,
                      ci_method=f"{e.confidence:.0%} lower bound: one-sided Clopper-Pearson, Bonferroni over "
                                f"{e.n_thresholds} thresholds", confidence=e.confidence,
                      group={**base, METHOD_KEY: ROC_METHOD}, higher_is_better=False, unit="epsilon",
                      description=f"epsilon an attack proves at delta={e.delta:g} from its ROC "
                                  f"(point estimate {_finite(e.point_estimate)})"))
    return out


def _finite(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.3g}"


def one_run_metric(model: str, audit: OneRunAudit) -> Metric:
    return Metric(name=EMPIRICAL_EPSILON, value=audit.epsilon, ci_low=audit.epsilon, ci_high=None, n=audit.m,
                  ci_method=f"{1 - audit.p:.0%} lower bound (Steinke, Nasr & Jagielski 2023, one run)",
                  confidence=1 - audit.p, group={MODEL_KEY: model, METHOD_KEY: ONE_RUN_METHOD},
                  higher_is_better=False, unit="epsilon",
                  description=f"{audit.v} of {audit.r} guesses right on {audit.m} canaries, delta={audit.delta:g}")


def dp_metrics(models: list[TrainedModel]) -> list[Metric]:
    control = models[0]
    out = []
    for m in models:
        acc = wilson_proportion(m.correct)
        out.append(Metric(name=DP_ACCURACY, value=acc.value, ci_low=acc.ci_low, ci_high=acc.ci_high, n=acc.n,
                          ci_method=acc.ci_method, group={MODEL_KEY: m.label}, higher_is_better=True,
                          unit=UNIT_PROPORTION, description="test accuracy of the fine-tuned classifier"))
        out += attack_metrics(m.attack)
        if m.one_run is not None:
            out.append(one_run_metric(m.label, m.one_run))
        if m.epsilon is not None:
            c = mcnemar(control.correct, m.correct)
            out.append(Metric(name=DP_ACCURACY_CHANGE, value=c.difference, ci_low=c.ci_low, ci_high=c.ci_high, n=c.n,
                              ci_method="Agresti-Min (paired)", group={MODEL_KEY: m.label}, higher_is_better=True,
                              unit=UNIT_PROPORTION, description=f"DP minus non-private control accuracy, same test "
                                                                f"sentences; exact McNemar p = {c.p_value:.3g}"))
    return out


def claim_findings(models: list[TrainedModel]) -> list[Finding]:
    """FAIL when an empirical lower bound exceeds the epsilon a DP model claims."""
    out = []
    for m in models:
        if m.epsilon is None:
            continue
        bounds = {ROC_METHOD: m.attack.epsilon.epsilon}
        if m.one_run is not None:
            bounds[ONE_RUN_METHOD] = m.one_run.epsilon
        spent = m.accounting.get("epsilon_spent")
        method, bound = max(bounds.items(), key=lambda kv: kv[1])
        claimed = max(m.epsilon, spent or 0.0)
        if bound > claimed:
            out.append(Finding(severity=Severity.FAIL, gate=CLAIM_GATE, metric=EMPIRICAL_EPSILON,
                               message=f"{m.label}: claimed {EPS} falsified: the {method} audit proves {EPS} >= "
                                       f"{bound:.3g} > {claimed:g}", evidence={"bounds": bounds, "claimed": claimed}))
    return out


def summary_finding(models: list[TrainedModel]) -> Finding:
    """The plain-language sentence a reviewer reads first."""
    control = models[0]
    sentences = []
    for m in models[1:]:
        c = mcnemar(control.correct, m.correct)
        bounds = [m.attack.epsilon.epsilon] + ([m.one_run.epsilon] if m.one_run else [])
        sentences.append(
            f"at {EPS} = {m.epsilon:g} accuracy changes by {100 * c.difference:+.1f} points "
            f"[{100 * c.ci_low:+.1f}, {100 * c.ci_high:+.1f}] (n={c.n}); the loss attack's AUC is "
            f"{m.attack.auc.auc.value:.3f} against {control.attack.auc.auc.value:.3f} without DP; "
            f"no attack proves more than {EPS} >= {max(bounds):.2f}")
    return Finding(severity=Severity.INFO, message="DP fine-tuning: " + "; ".join(sentences) + ".",
                   evidence={"control_accuracy": float(control.correct.mean())})


def exposure_metrics(models: list[CanaryModel]) -> list[Metric]:
    out = []
    for m in models:
        for r in m.results:
            e = r.exposure
            low_share, high_share = clopper_pearson(e.n_better, e.n_candidates)
            bound = lambda share: max(0.0, math.log2(e.space_size) - math.log2(1 + (e.space_size - 1) * share))
            out.append(Metric(name=CANARY_EXPOSURE, value=e.exposure, ci_low=bound(high_share), ci_high=bound(low_share),
                              n=e.n_candidates, ci_method="Clopper-Pearson on the share of candidates ranked above",
                              group={MODEL_KEY: m.label, REPEATS_KEY: str(r.secret.repeats)}, higher_is_better=False,
                              unit="bits", description=f"exposure of a secret inserted {r.secret.repeats} times "
                                                       f"(0 = never inserted); max log2|R| = {math.log2(e.space_size):.1f}"))
        inserted = [r.extracted for r in m.results if r.secret.repeats != FRESH]
        if inserted:
            share = wilson_proportion([float(x) for x in inserted])
            out.append(Metric(name=CANARY_EXTRACTED, value=share.value, ci_low=share.ci_low, ci_high=share.ci_high,
                              n=share.n, ci_method=share.ci_method, group={MODEL_KEY: m.label}, higher_is_better=False,
                              unit=UNIT_PROPORTION, condition=Condition.ORIGINAL,
                              description="share of inserted secrets that greedy decoding of the prefix regurgitates"))
    return out


def add(result: SuiteResult, metrics: list[Metric], findings: list[Finding] = ()) -> None:
    result.metrics.extend(metrics)
    result.findings.extend(findings)
