"""The multiple-testing family of a comparison, and each compared metric's verdict with its power.

Hierarchical (default): the suites' headline metrics (declared by each suite, else its overall
metrics) form one family, corrected together (Holm by default) at α. Every other compared metric
hangs under a parent: a breakdown under its own overall metric when that is a headline, anything
else under the headlines of its suite result. A parent's children are tested, corrected together
at α, only when the parent was flagged (for a suite result: any of its headlines) or
`regression.breakdowns` names the metric; the rest are listed as not tested. So a large family of
breakdowns costs the headlines nothing. Flat: every metric in one family (the pre-3.0 behaviour).

A metric's verdict is fail when flagged, pass when not flagged and its minimum detectable worsening
(at 80 % power and the Bonferroni share of α in its family) is at most `regression.min_effect`, and
inconclusive otherwise.
"""

from __future__ import annotations

import math
from collections import defaultdict

from audit.config.sections import RegressionSpec
from audit.regression.paired_tests import Tested, minimum_detectable
from audit.results import MetricChange, Power, Verdict
from audit.stats.multiple_testing import adjust
from audit.stats.power import DEFAULT_POWER, power_normal, power_paired_proportions

NOT_TESTED = ("breakdown not tested: its headline was not flagged (name it in regression.breakdowns to "
              "always test it)")


def _parent(changes: list[MetricChange], i: int, headline_of: dict[tuple, int]) -> tuple:
    c = changes[i]
    own = headline_of.get((c.suite, c.model, c.metric, c.condition))
    if c.group is not None and own is not None:
        return ("metric", own)
    return ("suite", c.suite, c.model)


def _apply(changes: list[MetricChange], members: list[int], spec: RegressionSpec) -> None:
    for i, p_adj in zip(members, adjust([changes[i].p_value for i in members], spec.correction)):
        c = changes[i]
        c.p_adjusted = p_adj
        c.regression = p_adj < spec.alpha and c.worse_by > c.tolerance
        c.improvement = c.ci_high is not None and (c.worse_by < 0 and _worse_high(c) < 0)


def _worse_high(c: MetricChange) -> float:
    """The upper CI bound of the worsening (the CI stored is that of `difference`)."""
    if c.direction == "higher":
        return -(c.ci_low if c.ci_low is not None else math.nan)
    return c.ci_high if c.ci_high is not None else math.nan


def assign(changes: list[MetricChange], tested: list[Tested], spec: RegressionSpec,
           duplicate_of: dict[int, int]) -> str:
    """Set p_adjusted / regression / tested / verdict / power on every change; return the family in words."""
    eligible = [i for i, c in enumerate(changes) if c.direction != "none" and i not in duplicate_of]
    family_size: dict[int, int] = {}
    if spec.family == "flat":
        _apply(changes, eligible, spec)
        family_size.update({i: len(eligible) for i in eligible})
        text = f"flat: all {len(eligible)} compared metrics in one family ({spec.correction} at α={spec.alpha:g})"
    else:
        heads = [i for i in eligible if changes[i].headline]
        _apply(changes, heads, spec)
        family_size.update({i: len(heads) for i in heads})
        headline_of = {(changes[i].suite, changes[i].model, changes[i].metric, changes[i].condition): i
                       for i in heads if changes[i].group is None}
        children: dict[tuple, list[int]] = defaultdict(list)
        for i in eligible:
            if not changes[i].headline:
                children[_parent(changes, i, headline_of)].append(i)
        untested = 0
        for parent, members in children.items():
            if parent[0] == "metric":
                flagged = changes[parent[1]].regression or spec.breakdowns_configured(changes[parent[1]].metric)
            else:
                flagged = any(changes[h].regression for h in heads
                              if (changes[h].suite, changes[h].model) == parent[1:])
            opened = [i for i in members if flagged or spec.breakdowns_configured(changes[i].metric)]
            _apply(changes, opened, spec)
            family_size.update({i: len(opened) for i in opened})
            for i in set(members) - set(opened):
                changes[i].tested = False
                changes[i].note = NOT_TESTED if changes[i].note is None else f"{changes[i].note}; {NOT_TESTED}"
                untested += 1
        text = (f"hierarchical: {len(heads)} headline metrics ({spec.correction} at α={spec.alpha:g}), then the "
                f"breakdowns of each flagged or configured headline ({spec.correction} at α within each); "
                f"{len(eligible) - len(heads) - untested} breakdowns tested, {untested} not tested")
    for i, size in family_size.items():
        _verdict(changes[i], tested[i], spec, spec.alpha / max(size, 1))
    for i, first in duplicate_of.items():
        c, f = changes[i], changes[first]
        c.p_adjusted, c.regression, c.improvement = f.p_adjusted, f.regression, f.improvement
        c.tested, c.verdict, c.power = f.tested, f.verdict, f.power
    return text


def _verdict(change: MetricChange, tested: Tested, spec: RegressionSpec, alpha: float) -> None:
    required = spec.min_effect_for(change.metric)
    mde = minimum_detectable(tested, alpha)
    test = tested.test
    if test.discordant is not None:
        power = power_paired_proportions(required, test.discordant, test.n, alpha=alpha)
        method = f"analytic: paired proportions (McNemar, one-sided α={alpha:.2g})"
    elif tested.planning_se is not None:
        power = power_normal(required, tested.planning_se, alpha=alpha)
        method = f"normal test with the paired SE (one-sided α={alpha:.2g})"
    else:
        power, method = None, "none"
    can_test = math.isfinite(mde) and mde <= required
    note = None
    if not can_test:
        mde_text = f"{mde:.3g}" if math.isfinite(mde) else "more than any change the data can show"
        note = (f"cannot test a worsening of {required:g}: at n={change.n_paired} the smallest it detects with "
                f"{DEFAULT_POWER:.0%} power is {mde_text}")
    change.power = Power(n=change.n_paired, minimum_detectable_effect=mde if math.isfinite(mde) else None,
                         required_effect=required, power=power, method=method, can_test=can_test, note=note)
    if change.regression:
        change.verdict = Verdict.FAIL
    else:
        change.verdict = Verdict.PASS if can_test else Verdict.INCONCLUSIVE
