"""Metrics and findings of the DP probe study and its multi-run audit (no model calls)."""

from __future__ import annotations

from audit.results import DERIVED_PREFIX, UNIT_PROPORTION, Finding, Metric, Power, Severity, TableView, Verdict
from audit.stats import mcnemar, wilson_proportion
from audit.models.training.probe import Defect
from suites.privacy.metrics import (DP_ACCURACY, DP_ACCURACY_CHANGE, DP_AUDIT_EPSILON, DP_AUDIT_MAX_EPSILON,
                                    MODEL_KEY, PROBE_REFERENCE_ACCURACY, TRAINER_KEY)
from suites.privacy.probe_audit import TrainerAudit
from suites.privacy.probe_study import ProbeStudy
from suites.privacy.report import CLAIM_GATE, EPS, attack_metrics

REFERENCE_PROBE = "privacy-reference-probe"
DEFECT_WORDS = {Defect.NONE: "the trainer as configured", Defect.NO_CLIPPING: "a trainer that does not clip",
                Defect.HALF_NOISE: "a trainer with half the noise its accountant assumes",
                Defect.NO_NOISE: "a trainer with its noise multiplier forced to 0"}


def subject(name: str) -> str:
    return f"{DERIVED_PREFIX}{name}"


def audit_metric(label: str, name: str, a: TrainerAudit) -> Metric:
    r = a.result
    return Metric(name=DP_AUDIT_EPSILON, value=r.epsilon, ci_low=r.epsilon, ci_high=None, n=2 * a.runs_per_arm,
                  ci_method=f"{r.confidence:.0%} lower bound: Clopper-Pearson on FPR and FNR over {r.n_out} + "
                            f"{r.n_in} held-out independent runs (threshold from {r.n_calibration} others)",
                  confidence=r.confidence, group={MODEL_KEY: label, TRAINER_KEY: a.defect.value},
                  higher_is_better=False, unit="epsilon", subject=subject(name),
                  description=f"multi-run audit of {DEFECT_WORDS[a.defect]} at claimed {EPS} = {a.claimed:g}: "
                              f"{r.false_positives} false positives, {r.false_negatives} false negatives; the most "
                              f"this design could prove is {EPS} = {r.max_provable:.2f}")


def study_metrics(study: ProbeStudy) -> list[Metric]:
    control = study.models[0]
    ref = wilson_proportion(study.reference_correct)
    out = [Metric(name=PROBE_REFERENCE_ACCURACY, value=ref.value, ci_low=ref.ci_low, ci_high=ref.ci_high, n=ref.n,
                  ci_method=ref.ci_method, higher_is_better=True, unit=UNIT_PROPORTION,
                  subject=subject(REFERENCE_PROBE), description="test accuracy of a well-trained linear probe "
                  "(L-BFGS logistic regression) on the same frozen features: what the control must approach")]
    for m in study.models:
        acc = wilson_proportion(m.correct)
        out.append(Metric(name=DP_ACCURACY, value=acc.value, ci_low=acc.ci_low, ci_high=acc.ci_high, n=acc.n,
                          ci_method=acc.ci_method, group={MODEL_KEY: m.label}, higher_is_better=True,
                          unit=UNIT_PROPORTION, subject=subject(m.name),
                          description=f"test accuracy of the linear probe on frozen features, {study.steps} steps"
                                      + (f", noise multiplier {m.sigma:.3g}" if m.sigma is not None else "")))
        out += [x.model_copy(update={"subject": subject(m.name)}) for x in attack_metrics(m.attack)]
        if m.epsilon is not None:
            c = mcnemar(control.correct, m.correct)
            out.append(Metric(name=DP_ACCURACY_CHANGE, value=c.difference, ci_low=c.ci_low, ci_high=c.ci_high, n=c.n,
                              ci_method="Agresti-Min (paired)", group={MODEL_KEY: m.label}, higher_is_better=True,
                              unit=UNIT_PROPORTION, subject=subject(m.name),
                              description=f"DP minus non-private control accuracy, same test sentences; exact "
                                          f"McNemar p = {c.p_value:.3g}"))
    names = {m.epsilon: m for m in study.models if m.epsilon is not None}
    for a in study.audits + study.controls:
        model = names[a.claimed]
        label = model.label if a.defect == Defect.NONE else f"{model.label} ({a.defect.value})"
        out.append(audit_metric(label, model.name if a.defect == Defect.NONE else f"{model.name}-{a.defect.value}", a))
    out.append(Metric(name=DP_AUDIT_MAX_EPSILON, value=study.design_max, n=2 * _runs(study), unit="epsilon",
                      subject=subject(study.models[0].name), higher_is_better=True,
                      description="the largest epsilon the multi-run audit's design could prove (every held-out "
                                  "run classified correctly); claims above it cannot be tested"))
    return out


def _runs(study: ProbeStudy) -> int:
    every = study.audits + study.controls
    return every[0].runs_per_arm if every else 0


def claim_findings(study: ProbeStudy) -> list[Finding]:
    """Per claimed ε: fail (the audit proves more), pass (testable, not falsified) or "cannot test"."""
    out = []
    n = 2 * _runs(study)
    for a in study.audits:
        r = a.result
        power = Power(n=n, required_effect=a.claimed, method="multi-run audit (Clopper-Pearson over runs)",
                      can_test=True, note=f"the most this design could prove is {EPS} = {r.max_provable:.2f}")
        if r.epsilon > a.claimed:
            out.append(Finding(severity=Severity.FAIL, gate=CLAIM_GATE, metric=DP_AUDIT_EPSILON, verdict=Verdict.FAIL,
                               power=power, message=f"dp {EPS}={a.claimed:g}: claimed {EPS} falsified: the multi-run "
                               f"audit proves {EPS} >= {r.epsilon:.3g} > {a.claimed:g}",
                               evidence={"bound": r.epsilon, "claimed": a.claimed, "max_provable": r.max_provable}))
        else:
            out.append(Finding(severity=Severity.INFO, gate=CLAIM_GATE, metric=DP_AUDIT_EPSILON, verdict=Verdict.PASS,
                               power=power, message=f"dp {EPS}={a.claimed:g}: not falsified: the multi-run audit "
                               f"proves {EPS} >= {r.epsilon:.3g} (it could have proved up to {r.max_provable:.2f})",
                               evidence={"bound": r.epsilon, "claimed": a.claimed, "max_provable": r.max_provable}))
    for eps in study.untestable:
        out.append(Finding(severity=Severity.INFO, gate=CLAIM_GATE, metric=DP_AUDIT_EPSILON,
                           verdict=Verdict.INCONCLUSIVE,
                           power=Power(n=n, required_effect=eps, can_test=False, method="multi-run audit",
                                       note=f"the most this design could prove is {EPS} = {study.design_max:.2f}"),
                           message=f"dp {EPS}={eps:g}: cannot test: the most this audit could prove is "
                                   f"{EPS} = {study.design_max:.2f}, below the claim"))
    return out


def control_findings(study: ProbeStudy) -> list[Finding]:
    """Can the audit catch broken trainers? (planted defects at the smallest ε)"""
    out = []
    for a in study.controls:
        r = a.result
        caught = r.epsilon > a.claimed
        text = (f"audit control: {DEFECT_WORDS[a.defect]} at claimed {EPS} = {a.claimed:g}: "
                f"{'falsified' if caught else 'not falsified'} ({EPS} >= {r.epsilon:.3g})")
        power = None
        if a.defect == Defect.HALF_NOISE and study.half_noise_power:
            p = study.half_noise_power
            needed = p["runs_per_arm_needed"]
            text += (f"; its accountant epsilon is {p['accountant_epsilon_of_half_noise']:.2f}; power at "
                     f"{p['runs_per_arm']} runs per arm {p['power']:.0%}; "
                     + (f"about {needed:,} runs per arm would catch it in a median audit" if needed else
                        "no feasible number of runs would catch it with this score"))
            power = Power(n=2 * a.runs_per_arm, required_effect=a.claimed, power=p["power"], method=p["method"],
                          can_test=bool(p["power"] >= 0.8), note=None if needed is None else
                          f"runs per arm for the median audit to falsify: {needed}")
        severity = Severity.INFO if caught or a.defect == Defect.HALF_NOISE else Severity.WARN
        out.append(Finding(severity=severity, message=text, metric=DP_AUDIT_EPSILON, power=power,
                           evidence={"bound": r.epsilon, "claimed": a.claimed, "defect": a.defect.value}))
    return out


def study_findings(study: ProbeStudy) -> list[Finding]:
    control, ref = study.models[0], float(study.reference_correct.mean())
    out = []
    if not study.converged:
        out.append(Finding(severity=Severity.WARN, message=f"DP study: the non-private control reaches "
                           f"{control.correct.mean():.3f} after {study.steps} steps, more than the tolerance below the "
                           f"well-trained probe's {ref:.3f}: the DP accuracies are of an undertrained model"))
    curve = "; ".join(f"{EPS} = {m.epsilon:g}: {m.correct.mean():.3f}" for m in study.models[1:])
    out.append(Finding(severity=Severity.INFO, message=f"DP study (linear probe on frozen features, {study.steps} steps, "
                       f"{study.release}): control accuracy {control.correct.mean():.3f} (well-trained probe "
                       f"{ref:.3f}); DP accuracy {curve}", evidence={"history": study.history}))
    return out


def audit_table(study: ProbeStudy) -> TableView:
    rows = []
    for a in study.audits + study.controls:
        r = a.result
        rows.append([f"{a.claimed:g}", DEFECT_WORDS[a.defect], 2 * a.runs_per_arm, r.false_positives,
                     r.false_negatives, round(r.epsilon, 3), round(r.max_provable, 2),
                     "falsified" if r.epsilon > a.claimed else "not falsified",
                     round(1000 * a.seconds_per_probe, 2)])
    for eps in study.untestable:
        rows.append([f"{eps:g}", DEFECT_WORDS[Defect.NONE], 0, None, None, None, round(study.design_max, 2),
                     "cannot test", None])
    return TableView(title="Multi-run DP audit (independent trainings with and without a worst-case canary)",
                     columns=["claimed ε", "trainer", "runs", "false positives", "false negatives", "ε lower bound",
                              "most provable ε", "verdict", "ms per probe"], rows=rows,
                     caption="Clopper-Pearson over independent runs (Jagielski et al. 2020); the white-box "
                             "canary of Nasr et al. 2021. False positives/negatives on the held-out half.")
