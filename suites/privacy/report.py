"""Metrics and findings of the privacy suite, from the parts' measurements (no model calls)."""

from __future__ import annotations

import math

from audit.results import UNIT_PROPORTION, Condition, Finding, Metric, Power, Severity, SuiteResult, Verdict
from audit.stats import mcnemar, wilson_proportion
from suites.privacy.canary_part import FRESH, CanaryModel, SecretResult
from suites.privacy.dp_part import TrainedModel
from suites.privacy.metrics import (ATTACK_KEY, CANARY_EXPOSURE, CANARY_EXTRACTED, CANARY_EXTRACTION_RATE,
                                    DP_ACCURACY, DP_ACCURACY_CHANGE, FRESH_SECRETS, INSERTED_SECRETS, SECRETS_KEY,
                                    ATTACK_IMPLIED_EPSILON, EMPIRICAL_EPSILON, FPR_KEY, METHOD_KEY, MIA_AUC, MIA_TPR_AT_FPR, MODEL_KEY,
                                    ONE_RUN_METHOD, REPEATS_KEY, ROC_METHOD, AttackEvaluation)
from audit.stats.dp_audit import OneRunAudit, epsilon_lower_bound
from audit.stats.membership import clopper_pearson, min_nonmembers

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
                                      f"(achieved {t.achieved_fpr:.4g}; {t.n_members} members, threshold from "
                                      f"{t.n_nonmembers} non-members)"))
    e = ev.epsilon
    out.append(Metric(name=ATTACK_IMPLIED_EPSILON, value=e.epsilon, ci_low=None, ci_high=None,
                      n=e.n_members + e.n_nonmembers, ci_method="heuristic: Clopper-Pearson over the examples of ONE "
                      f"trained model, Bonferroni over {e.n_thresholds} thresholds", confidence=e.confidence,
                      group={**base, METHOD_KEY: ROC_METHOD}, higher_is_better=False, unit="epsilon",
                      description=f"attack-implied {EPS} (heuristic) at delta={e.delta:g} from one model's ROC "
                                  f"(point estimate {_finite(e.point_estimate)}); not a DP lower bound: the examples "
                                  "of one training run are not independent trials, so it never gates"))
    return out


def skipped_findings(evaluations: list[AttackEvaluation]) -> list[Finding]:
    """TPR at a false-positive rate needs >= 10 / FPR non-members; say which rates were left out."""
    out = []
    for ev in evaluations:
        for f in ev.skipped_fpr:
            out.append(Finding(severity=Severity.INFO, metric=MIA_TPR_AT_FPR,
                               message=f"{ev.model} ({ev.scores.attack} attack): TPR at FPR {f:g} not reported: it "
                                       f"needs >= {min_nonmembers(f):,} non-members, the audit has "
                                       f"{ev.scores.non_members.size:,}"))
    return out


def _finite(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.3g}"


def one_run_max(audit: OneRunAudit) -> float:
    """The most the one-run design could prove: every one of its r guesses right."""
    return epsilon_lower_bound(audit.m, audit.r, audit.r, audit.delta, audit.p)


def one_run_metric(model: str, audit: OneRunAudit) -> Metric:
    return Metric(name=EMPIRICAL_EPSILON, value=audit.epsilon, ci_low=audit.epsilon, ci_high=None, n=audit.m,
                  ci_method=f"{1 - audit.p:.0%} lower bound (Steinke, Nasr & Jagielski 2023, one run)",
                  confidence=1 - audit.p, group={MODEL_KEY: model, METHOD_KEY: ONE_RUN_METHOD},
                  higher_is_better=False, unit="epsilon",
                  description=f"{audit.v} of {audit.r} guesses right on {audit.m} canaries, delta={audit.delta:g}; "
                              f"the most this design could prove is {EPS} = {one_run_max(audit):.2f}")


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
    """Fine-tunes: FAIL when the one-run audit's bound exceeds the claim; "cannot test" when even
    every guess right could not prove the claim (the attack-implied ROC epsilon never gates)."""
    out = []
    for m in models:
        if m.epsilon is None or m.one_run is None:
            continue
        spent = m.accounting.get("epsilon_spent")
        claimed = max(m.epsilon, spent or 0.0)
        most = one_run_max(m.one_run)
        power = Power(n=m.one_run.m, required_effect=claimed, can_test=most > claimed, method="one-run audit",
                      note=f"the most this design could prove is {EPS} = {most:.2f}")
        bound = m.one_run.epsilon
        if bound > claimed:
            out.append(Finding(severity=Severity.FAIL, gate=CLAIM_GATE, metric=EMPIRICAL_EPSILON, verdict=Verdict.FAIL,
                               power=power, message=f"{m.label}: claimed {EPS} falsified: the one-run audit proves "
                               f"{EPS} >= {bound:.3g} > {claimed:g}", evidence={"bound": bound, "claimed": claimed}))
        elif most <= claimed:
            out.append(Finding(severity=Severity.INFO, gate=CLAIM_GATE, metric=EMPIRICAL_EPSILON,
                               verdict=Verdict.INCONCLUSIVE, power=power,
                               message=f"{m.label}: cannot test: the most this one-run audit could prove is "
                                       f"{EPS} = {most:.2f}, below the claimed {claimed:g}"))
        else:
            out.append(Finding(severity=Severity.INFO, gate=CLAIM_GATE, metric=EMPIRICAL_EPSILON, verdict=Verdict.PASS,
                               power=power, message=f"{m.label}: not falsified by the one-run audit ({EPS} >= "
                               f"{bound:.3g}; it could have proved up to {most:.2f})"))
    return out


def summary_finding(models: list[TrainedModel]) -> Finding:
    """The plain-language sentence a reviewer reads first."""
    control = models[0]
    sentences = []
    for m in models[1:]:
        c = mcnemar(control.correct, m.correct)
        bounds = [m.one_run.epsilon] if m.one_run else [0.0]
        sentences.append(
            f"at {EPS} = {m.epsilon:g} accuracy changes by {100 * c.difference:+.1f} points "
            f"[{100 * c.ci_low:+.1f}, {100 * c.ci_high:+.1f}] (n={c.n}); the loss attack's AUC is "
            f"{m.attack.auc.auc.value:.3f} against {control.attack.auc.auc.value:.3f} without DP; "
            f"the one-run audit proves {EPS} >= {max(bounds):.2f}")
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
        inserted = [r.teacher_forced for r in m.results if r.secret.repeats != FRESH]
        if inserted:
            share = wilson_proportion([float(x) for x in inserted])
            out.append(Metric(name=CANARY_EXTRACTED, value=share.value, ci_low=share.ci_low, ci_high=share.ci_high,
                              n=share.n, ci_method=share.ci_method, group={MODEL_KEY: m.label}, higher_is_better=False,
                              unit=UNIT_PROPORTION, condition=Condition.ORIGINAL,
                              description="share of inserted secrets whose every token is the argmax after the prefix "
                                          "(teacher-forced scoring; see canary_extraction_rate for generation)"))
        out += extraction_metrics(m.label, m.results)
    return out


def extraction_metrics(label: str, results: list[SecretResult]) -> list[Metric]:
    """Greedy extraction rate (Wilson) of the inserted secrets, and of the fresh ones as the null control."""
    out = []
    for which, keep in ((INSERTED_SECRETS, lambda r: r.secret.repeats != FRESH),
                        (FRESH_SECRETS, lambda r: r.secret.repeats == FRESH)):
        rows = [r for r in results if keep(r) and r.extraction is not None]
        if not rows:
            continue
        share = wilson_proportion([float(r.extracted) for r in rows])
        what = "inserted" if which == INSERTED_SECRETS else "never-inserted (the null control: expected 0)"
        out.append(Metric(name=CANARY_EXTRACTION_RATE, value=share.value, ci_low=share.ci_low, ci_high=share.ci_high,
                          n=share.n, ci_method=share.ci_method, group={MODEL_KEY: label, SECRETS_KEY: which},
                          higher_is_better=False, unit=UNIT_PROPORTION, condition=Condition.ORIGINAL,
                          description=f"share of {what} secrets that greedy generation from the text before the "
                                      "secret writes out exactly (adapter.generate, one batched call)"))
    return out


def shared_prompt_finding(models: list[CanaryModel]) -> list[Finding]:
    """Without an {owner} slot every secret shares one prompt: greedy decoding can extract at most one."""
    inserted = [r for r in (models[0].results if models else []) if r.secret.repeats != FRESH]
    if len(inserted) < 2 or any(r.secret.owner for r in inserted):
        return []
    return [Finding(severity=Severity.INFO, metric=CANARY_EXTRACTION_RATE,
                    message=f"canary extraction: the template has no {{owner}} slot, so all secrets share one prompt "
                            f"and greedy decoding writes one continuation: at most 1 of the {len(inserted)} inserted "
                            f"secrets can be extracted (rate <= {1 / len(inserted):.2f}, whatever was memorised)")]


def add(result: SuiteResult, metrics: list[Metric], findings: list[Finding] = ()) -> None:
    result.metrics.extend(metrics)
    result.findings.extend(findings)
