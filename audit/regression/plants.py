"""Planted defects and null noise on a run's per-example outcomes (for `selftest` and the planted-defect tests).

A defect of size s on a metric moves a share s of its examples (those not already there) to the
metric's worst value observed in the run: a wrong answer for an accuracy, the stereotyped answer for
a BBQ item, the stereotyping sentence for a CrowS-Pairs pair, the highest attack score for a member
(membership AUC), a positive prediction in the group with the highest rate (demographic parity gap).
The same examples are moved in every outcome of the metric (overall and breakdowns), so the candidate
is a run the model could have produced. Null noise permutes the values of a share of the examples
among themselves (within groups for group gaps): every mean is unchanged, the pairs are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.stats.membership import delong_components
from audit.results import (STAT_AUC, STAT_EO_GAP, STAT_MAX_GAP, STAT_MEAN, Condition, Direction, Group, Outcomes,
                           SuiteResult)


@dataclass(frozen=True)
class Target:
    """A metric to plant a defect in: its suite result (suite, model), name, condition and direction."""

    suite: str
    model: str
    metric: str
    condition: Condition
    direction: Direction
    ideal: float | None
    statistic: str
    group: Group | None = None     # a grouped headline (the privacy suite's loss-attack AUC of the audited model)


def _worse_high(target: Target, values: np.ndarray) -> bool:
    """Whether higher values are worse for this metric on this run (the ideal's side for an ideal)."""
    if target.direction == "ideal" and target.ideal is not None:
        return float(np.nanmean(values)) >= target.ideal
    return target.direction != "higher"


def _extreme(values: np.ndarray, high: bool) -> float:
    """The worst value: 1 / 0 for 0/1 outcomes (even if never observed), else the run's own extreme."""
    finite = values[np.isfinite(values)]
    if finite.size and np.isin(finite, (0.0, 1.0)).all():
        return 1.0 if high else 0.0
    return float(np.nanmax(values) if high else np.nanmin(values))


def chosen_examples(target: Target, outcome: Outcomes, size: float, rng: np.random.Generator) -> tuple[set[str], float]:
    """(ids to move, the value they move to) from the metric's overall outcome."""
    values = np.asarray(outcome.values, float)
    finite = np.isfinite(values)
    if outcome.statistic == STAT_AUC:
        assert outcome.labels is not None
        members = np.asarray(outcome.labels) > 0.5
        auc = delong_components(values[finite], members[finite])[2]
        high = not (target.direction == "ideal" and target.ideal is not None and auc < target.ideal)
        worst = float(np.nanmax(values) if high else np.nanmin(values))     # members look more (or less) like members
        pool = np.flatnonzero(finite & members & (values != worst))
        k = int(round(size * int((np.asarray(outcome.labels) > 0.5).sum())))
    elif outcome.statistic in (STAT_MAX_GAP, STAT_EO_GAP):
        assert outcome.strata is not None
        strata = np.asarray(outcome.strata)
        means = {g: float(np.nanmean(values[strata == g])) for g in dict.fromkeys(outcome.strata)}
        top = max(means, key=lambda g: means[g])
        worst = _extreme(values, True)
        pool = np.flatnonzero(finite & (strata == top) & (values < worst))
        k = int(round(size * int((strata == top).sum())))
    else:
        worst = _extreme(values, _worse_high(target, values))
        pool = np.flatnonzero(finite & (values != worst))
        k = int(round(size * int(finite.sum())))
    k = min(k, pool.size)
    picked = rng.choice(pool, size=k, replace=False) if k else np.array([], int)
    return {outcome.example_ids[i] for i in picked}, worst


def plant(suite: SuiteResult, target: Target, size: float, rng: np.random.Generator) -> SuiteResult:
    """A copy of `suite` whose outcomes (and mean metrics) of the target metric carry the defect."""
    outcomes = [o for o in suite.outcomes if o.metric == target.metric and o.condition == target.condition
                and o.statistic == target.statistic]
    if target.statistic != STAT_MEAN:       # scores / predictions of one group only (scales differ)
        outcomes = [o for o in outcomes if o.group == target.group]
    if not outcomes:
        return suite
    overall = next((o for o in outcomes if o.group == target.group), outcomes[0])
    ids, worst = chosen_examples(target, overall, size, rng)
    moved, chosen = [], {id(o) for o in outcomes}
    for o in suite.outcomes:
        if id(o) in chosen:
            values = [worst if i in ids and np.isfinite(v) else v for i, v in zip(o.example_ids, o.values)]
            o = o.model_copy(update={"values": values})
        moved.append(o)
    return _with(suite, moved)


def _with(suite: SuiteResult, outcomes: list[Outcomes]) -> SuiteResult:
    """A light copy of a suite result with other outcomes (views and examples are not needed to compare)."""
    return SuiteResult(suite=suite.suite, suite_version=suite.suite_version, model=suite.model,
                       status=suite.status, metrics=list(suite.metrics), outcomes=outcomes,
                       headlines=list(suite.headlines))


def noisy(suite: SuiteResult, share: float, rng: np.random.Generator) -> SuiteResult:
    """A copy of `suite` with a share of each outcome's values permuted among themselves (within strata)."""
    if share <= 0:
        return _with(suite, list(suite.outcomes))
    out = []
    for o in suite.outcomes:
        values = np.asarray(o.values, float).copy()
        keys = np.asarray(o.strata) if o.strata is not None else np.zeros(values.size, dtype=int)
        for key in np.unique(keys):
            rows = np.flatnonzero(keys == key)
            k = int(round(share * rows.size))
            if k >= 2:
                pick = rng.choice(rows, size=k, replace=False)
                values[pick] = values[rng.permutation(pick)]
        out.append(o.model_copy(update={"values": values.tolist()}))
    return _with(suite, out)


def describe(target: Target, size: float) -> str:
    """The defect in words, for the selftest table."""
    if target.statistic == STAT_AUC:
        return f"{size:.0%} of members get the highest attack score"
    if target.statistic in (STAT_MAX_GAP, STAT_EO_GAP):
        return f"{size:.0%} of the highest-rate group's negative predictions made positive"
    side = "towards the worse side of the ideal" if target.direction == "ideal" else "to the worst value"
    return f"{size:.0%} of examples moved {side}"
