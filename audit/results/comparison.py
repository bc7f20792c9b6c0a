"""Comparisons of two runs, compressed-variant reports and metric histories, stored with a run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from audit.results.records import Condition, Estimate, Group, Status, _Record, group_key

Direction = Literal["higher", "lower", "ideal", "none"]
# evidence["source"] of the findings a comparison adds to a run (JUnit reports the comparison itself)
COMPARISON_SOURCE = "comparison"


class MetricChange(_Record):
    """One metric compared on the examples both runs share.

    `difference` is the tested statistic: candidate − baseline for a metric with a direction, or
    the change in distance from `ideal` (|candidate − ideal| − |baseline − ideal|) for a metric with
    an ideal; `ci_low`/`ci_high` are its interval and `worse_by` is the same change signed so that
    a positive value is a worsening. `p_adjusted` is the p-value after the multiple-comparison
    correction across every metric of the comparison.
    """

    suite: str
    model: str
    baseline_model: str | None = None        # set when a model is compared with another (a variant)
    metric: str
    group: Group | None = None
    condition: Condition = Condition.ORIGINAL
    unit: str | None = None
    direction: Direction = "none"
    ideal: float | None = None
    baseline: float
    candidate: float
    difference: float
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float = 0.95
    worse_by: float
    tolerance: float = 0.0
    p_value: float | None = None
    p_adjusted: float | None = None
    n_paired: int
    test: str
    regression: bool = False
    improvement: bool = False
    note: str | None = None
    same_as: str | None = None    # the same outcomes as this earlier metric: one hypothesis, counted once

    @property
    def group_key(self) -> str | None:
        return group_key(self.group)


class UnpairedMetric(_Record):
    """A headline metric without per-example outcomes: shown next to its baseline, never tested."""

    suite: str
    model: str
    metric: str
    group: Group | None = None
    unit: str | None = None
    baseline: float
    candidate: float
    baseline_ci: tuple[float, float] | None = None
    candidate_ci: tuple[float, float] | None = None


class Comparison(_Record):
    """A paired comparison of a candidate with a baseline (another run, or a model's original)."""

    kind: Literal["baseline", "variant"] = "baseline"
    baseline_run_id: str
    baseline_ref: str | None = None           # the tag, id or path the user named
    baseline_started_at: str | None = None
    candidate_run_id: str
    alpha: float = 0.05
    correction: Literal["holm", "bh", "none"] = "holm"
    status: Status = Status.PASSED            # failed: a supported regression; error: nothing comparable
    message: str | None = None
    overridden: list[str] = Field(default_factory=list)   # checks --force overrode (datasets, config)
    metrics: list[MetricChange] = Field(default_factory=list)
    unpaired: list[UnpairedMetric] = Field(default_factory=list)

    @property
    def regressions(self) -> list[MetricChange]:
        """Supported regressions, each hypothesis once (a metric with the same outcomes as an earlier
        one, e.g. the overall accuracy and that of the only data set, is not listed again)."""
        return [m for m in self.metrics if m.regression and m.same_as is None]


class VariantReport(_Record):
    """A compressed variant of a model audited in the same run, against its original."""

    name: str
    base: str
    recipe: dict[str, Any] = Field(default_factory=dict)
    size_bytes: int | None = None
    base_size_bytes: int | None = None
    latency_ms: Estimate | None = None        # per example, CPU, through the adapter
    base_latency_ms: Estimate | None = None
    latency_probe: dict[str, Any] = Field(default_factory=dict)
    comparison: Comparison | None = None
    notes: list[str] = Field(default_factory=list)


class HistoryPoint(_Record):
    run_id: str
    started_at: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    status: str = ""
    tags: list[str] = Field(default_factory=list)


class MetricHistory(_Record):
    """A headline metric over the stored runs of the same audit (oldest first), for trend charts."""

    suite: str
    model: str
    metric: str
    group: Group | None = None
    unit: str | None = None
    higher_is_better: bool | None = None
    ideal: float | None = None
    points: list[HistoryPoint] = Field(default_factory=list)


def flagged_first(changes: list[MetricChange]) -> list[MetricChange]:
    """Regressions first (largest worsening first), then the rest by adjusted p-value."""
    return sorted(changes, key=lambda c: (not c.regression, -c.worse_by if c.regression else 0.0,
                                          c.p_adjusted if c.p_adjusted is not None else 2.0))
