"""Does each method beat its own chance level? Exact sign-flip tests, Holm across methods, and power.

For every method: d_i = comprehensiveness(method) − comprehensiveness(permuted own scores) on example i;
the gain is mean(d) with a bootstrap CI, the p-value a one-sided sign-flip test (audit.stats), Holm-
adjusted over the methods tested. Verdict per method:
- inconclusive ("cannot test") when n is below `min_examples` or 2^-n cannot reach α/m (the
  strictest Holm threshold): never "beats chance", whatever the data;
- pass ("beats chance") when the Holm-adjusted p-value is at most α;
- fail when not significant and the minimum detectable gain at 80 % power is at most `min_gain`
  (the design could have caught it); inconclusive when not significant and too noisy for that.
The headline is each method's gain with its CI; there is no CI over methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from audit.results import Finding, Metric, Power, Severity, SuiteResult, Verdict
from audit.stats import bootstrap_mean, holm, sign_flip_test, smallest_sign_flip_p, z_value
from suites.explainability.trust_scores import Evaluation
from suites.explainability.assemble import COMPREHENSIVENESS_GAIN, SUFFICIENCY_GAIN

TARGET_POWER = 0.8

Seed = Callable[..., int]


@dataclass(frozen=True)
class ChanceVerdict:
    method: str
    n: int
    gain: float
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float
    power: Power
    verdict: Verdict

    @property
    def beats_chance(self) -> bool:
        return self.verdict == Verdict.PASS


def _one_sided_z(q: float) -> float:
    """The standard-normal q-quantile (z_value is two-sided: Φ⁻¹(q) = z_value(2q − 1))."""
    return z_value(2 * q - 1)


def design_power(differences: np.ndarray, alpha: float, min_gain: float, min_examples: int) -> Power:
    """What a one-sided test at level `alpha` on these n paired differences could detect (normal
    approximation with the observed spread), and whether it can test at all."""
    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    n = int(d.size)
    sd = float(d.std(ddof=1)) if n > 1 else float("inf")
    mde = (_one_sided_z(1 - alpha) + _one_sided_z(TARGET_POWER)) * sd / np.sqrt(max(n, 1)) if n > 1 else float("inf")
    notes = []
    if n < min_examples:
        notes.append(f"n = {n} is below the {min_examples} examples the verdict needs")
    if smallest_sign_flip_p(n) > alpha:
        notes.append(f"with n = {n} the smallest possible p-value is {smallest_sign_flip_p(n):.3g} > {alpha:.3g}")
    can_test = not notes
    if not mde <= min_gain:
        notes.append(f"the minimum detectable gain at 80% power is {mde:.3g}, above the required {min_gain:.3g}")
    return Power(n=n, minimum_detectable_effect=float(mde) if np.isfinite(mde) else None,
                 required_effect=min_gain, target_power=TARGET_POWER, can_test=can_test,
                 method="sign-flip test, normal approximation with the observed SD; level alpha/m (Holm's strictest)",
                 note="; ".join(notes) or None)


def chance_verdicts(ev: Evaluation, methods: list[str], *, alpha: float, min_gain: float, min_examples: int,
                    seed: Seed) -> list[ChanceVerdict]:
    """One verdict per method that has a permutation null and is not excluded."""
    tested = [m for m in methods if m in ev.null_comprehensiveness and m not in ev.excluded]
    diffs = {m: ev.comprehensiveness[m] - ev.null_comprehensiveness[m] for m in tested}
    tests = {m: sign_flip_test(diffs[m], "greater", seed=seed("sign_flip", m)) for m in tested}
    adjusted = dict(zip(tested, holm([tests[m].p_value for m in tested]))) if tested else {}
    out = []
    for m in tested:
        d = diffs[m][np.isfinite(diffs[m])]
        estimate = bootstrap_mean(d, seed=seed(COMPREHENSIVENESS_GAIN, m)) if d.size else None
        power = design_power(d, alpha / max(1, len(tested)), min_gain, min_examples)
        if not power.can_test:
            verdict = Verdict.INCONCLUSIVE
        elif adjusted[m] <= alpha and float(d.mean()) > 0:
            verdict = Verdict.PASS
        elif power.minimum_detectable_effect is not None and power.minimum_detectable_effect <= min_gain:
            verdict = Verdict.FAIL
        else:   # not significant, and too noisy to have caught the required gain
            verdict = Verdict.INCONCLUSIVE
        out.append(ChanceVerdict(m, int(d.size), float(d.mean()) if d.size else float("nan"),
                                 estimate.ci_low if estimate else float("nan"),
                                 estimate.ci_high if estimate else float("nan"),
                                 tests[m].p_value, adjusted[m], power, verdict))
    return out


def add_gains(result: SuiteResult, ev: Evaluation, verdicts: list[ChanceVerdict], unit: str, seed: Seed) -> None:
    """The headline per method: comprehensiveness gain over its own null (CI, n, p in the description),
    and the sufficiency gain (null − method) beside it."""
    for v in verdicts:
        result.metrics.append(Metric(
            name=COMPREHENSIVENESS_GAIN, value=v.gain, ci_low=v.ci_low, ci_high=v.ci_high, n=v.n,
            ci_method="percentile bootstrap of the paired differences", group={"method": v.method},
            higher_is_better=True, unit=unit,
            description="comprehensiveness AOPC minus that of a permutation of the method's own scores, paired "
                        f"over examples (sign-flip p = {v.p_value:.3g}, Holm {v.p_holm:.3g})"))
        suff = ev.null_sufficiency[v.method] - ev.sufficiency[v.method]
        suff = suff[np.isfinite(suff)]
        if suff.size:
            result.metrics.append(Metric.from_estimate(
                SUFFICIENCY_GAIN, bootstrap_mean(suff, seed=seed(SUFFICIENCY_GAIN, v.method)),
                group={"method": v.method}, higher_is_better=True, unit=unit,
                description="sufficiency AOPC of the permutation null minus the method's, paired over examples"))


def chance_findings(verdicts: list[ChanceVerdict], unit: str, alpha: float) -> list[Finding]:
    findings = []
    for v in verdicts:
        text = (f"comprehensiveness gain over its own permuted scores {v.gain:+.3f} {unit} "
                f"[{v.ci_low:+.3f}, {v.ci_high:+.3f}], n = {v.n}, sign-flip p = {v.p_value:.3g} "
                f"(Holm over {len(verdicts)} methods: {v.p_holm:.3g})")
        if v.verdict == Verdict.PASS:
            message, severity = f"{v.method} beats chance: {text}", Severity.INFO
        elif v.verdict == Verdict.INCONCLUSIVE:
            message, severity = f"{v.method}: cannot test against chance ({v.power.note}); {text}", Severity.WARN
        else:
            message, severity = f"{v.method} does not beat chance at alpha = {alpha}: {text}", Severity.WARN
        findings.append(Finding(severity=severity, message=message, metric=COMPREHENSIVENESS_GAIN,
                                verdict=v.verdict, power=v.power,
                                evidence={"method": v.method, "beats_chance": v.beats_chance, "gain": v.gain,
                                          "ci_low": v.ci_low, "ci_high": v.ci_high, "p_value": v.p_value,
                                          "p_holm": v.p_holm, "n": v.n}))
    passing = [v for v in verdicts if v.beats_chance]
    if passing:
        best = max(passing, key=lambda v: v.gain)
        findings.append(Finding(severity=Severity.INFO, metric=COMPREHENSIVENESS_GAIN,
                                message=f"most faithful on these examples: {best.method} ({best.gain:+.3f} {unit} over "
                                        f"its chance level); beating chance (Holm): "
                                        f"{', '.join(v.method for v in passing)}",
                                evidence={"method": best.method, "beat_chance": [v.method for v in passing]}))
    elif verdicts and all(v.verdict == Verdict.FAIL for v in verdicts):
        findings.append(Finding(severity=Severity.WARN, metric=COMPREHENSIVENESS_GAIN, verdict=Verdict.FAIL,
                                message="no explanation method beats chance on these examples: do not trust their "
                                        "token attributions", evidence={}))
    return findings
