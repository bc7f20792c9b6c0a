"""Typed, versioned results: what suites produce and what renderers read.

`results.json` is an `AuditRun` dumped to JSON. Renderers import only this module,
never suite code (HELM's rule: the report reads stored results).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal, Mapping, Union

from pydantic import BaseModel, ConfigDict, Field

# 2.1 added the optional `comparison`, `variants` and `history` of an AuditRun (2.0 files still load).
SCHEMA_VERSION = "2.1"

# One unit convention: every proportion or rate (accuracy, CrowS-Pairs metric, flip rate, attack
# success rate, ...) is a fraction in [0, 1] with unit "proportion"; renderers show it as %.
UNIT_PROPORTION = "proportion"

# A breakdown of a metric: key -> value (e.g. {"bias_type": "race-color"}, {"dataset": "rt",
# "label": "positive"}). `group_key` is its one canonical text form, used by gates, compare,
# the store and the report.
Group = dict[str, str]
_GROUP_ESCAPES = str.maketrans({"\\": "\\\\", ";": "\\;", "=": "\\="})


def group_key(group: Mapping[str, str] | None) -> str | None:
    """Canonical text of a group: `key=value` pairs sorted by key, joined by ';' (\\ escapes ; = \\)."""
    if not group:
        return None
    return ";".join(f"{str(k).translate(_GROUP_ESCAPES)}={str(v).translate(_GROUP_ESCAPES)}"
                    for k, v in sorted(group.items()))


def group_label(group: Mapping[str, str] | None, overall: str = "overall") -> str:
    """Readable text of a group for reports and charts: `key: value, key2: value2` in the group's
    own order (not parseable; use `group_key` wherever a group must be matched)."""
    if not group:
        return overall
    return ", ".join(f"{k}: {v}" for k, v in group.items())


def parse_group(text: str | None) -> Group | None:
    """Inverse of `group_key` (a gate's `group: "bias_type=race-color"` is read with it)."""
    if text is None or not text.strip():
        return None
    pairs: list[list[str]] = [[""]]
    escaped = False
    for char in text:
        if escaped:
            pairs[-1][-1] += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ";":
            pairs.append([""])
        elif char == "=" and len(pairs[-1]) == 1:
            pairs[-1].append("")
        else:
            pairs[-1][-1] += char
    group: Group = {}
    for pair in pairs:
        if len(pair) != 2 or not pair[0].strip():
            raise ValueError(f"group {text!r} is not of the form 'key=value;key2=value2'")
        group[pair[0].strip()] = pair[1].strip()
    return group


class Condition(str, Enum):
    """On which inputs a number was computed (HELM records the same)."""

    ORIGINAL = "original"
    PERTURBED = "perturbed"
    WORST_CASE = "worst_case"
    UNDER_ATTACK = "under_attack"


class _Record(BaseModel):
    # NaN/inf (e.g. a rate on an empty group) are written as "NaN"/"Infinity" so files round-trip.
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")


class Severity(str, Enum):
    FAIL = "fail"
    WARN = "warn"
    INFO = "info"


class Status(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


class Estimate(_Record):
    """A point estimate with its sample size and confidence interval."""

    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int
    ci_method: str | None = None
    confidence: float = 0.95
    nan_share: float | None = Field(None, description="share of bootstrap resamples where the statistic "
                                                      "was undefined (dropped before taking the CI)")


class Metric(Estimate):
    """One number of a suite; `group` set means a breakdown of the metric of the same name.

    `ideal` marks metrics whose best value is a target, not a direction (CrowS-Pairs: 0.5):
    gates and compare then judge the distance from it.
    """

    name: str
    group: Group | None = None
    condition: Condition = Condition.ORIGINAL
    higher_is_better: bool | None = None
    ideal: float | None = None
    unit: str | None = None
    description: str | None = None

    @property
    def group_key(self) -> str | None:
        return group_key(self.group)

    @classmethod
    def from_estimate(cls, name: str, estimate: Estimate, **fields: Any) -> "Metric":
        return cls(name=name, **estimate.model_dump(), **fields)


class Outcomes(_Record):
    """Per-example values behind an overall metric, for paired comparisons between runs."""

    metric: str
    group: Group | None = None
    condition: Condition = Condition.ORIGINAL
    example_ids: list[str]
    values: list[float]

    @property
    def group_key(self) -> str | None:
        return group_key(self.group)


class Finding(_Record):
    severity: Severity
    message: str
    gate: str | None = None
    metric: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)


class Span(_Record):
    start: int
    end: int
    label: str | None = None


class Example(_Record):
    """An illustrative example; `text` is shown escaped, `spans` highlight parts of it."""

    id: str
    text: str
    fields: dict[str, Any] = Field(default_factory=dict)
    spans: list[Span] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- views
# A suite says *what* to show; renderers know how to draw each view type.


class TableView(_Record):
    type: Literal["table"] = "table"
    title: str
    columns: list[str]
    rows: list[list[Any]]
    caption: str | None = None


class Bar(_Record):
    label: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None


class BarChartView(_Record):
    type: Literal["bar_chart"] = "bar_chart"
    title: str
    bars: list[Bar]
    unit: str | None = None
    reference: float | None = None
    caption: str | None = None


class Series(_Record):
    name: str
    x: list[float]
    y: list[float]


class LineChartView(_Record):
    type: Literal["line_chart"] = "line_chart"
    title: str
    series: list[Series]
    x_label: str = ""
    y_label: str = ""
    caption: str | None = None
    x_scale: Literal["linear", "log"] = "linear"   # log: ROC curves at low false-positive rates
    y_scale: Literal["linear", "log"] = "linear"   # points <= 0 on a log axis are not drawn


class TokenScores(_Record):
    tokens: list[str]
    scores: list[float]
    label: str | None = None


class TokenHeatmapView(_Record):
    type: Literal["token_heatmap"] = "token_heatmap"
    title: str
    rows: list[TokenScores]
    caption: str | None = None


class MatrixHeatmapView(_Record):
    type: Literal["matrix_heatmap"] = "matrix_heatmap"
    title: str
    x_labels: list[str]
    y_labels: list[str]
    values: list[list[float]]
    caption: str | None = None


class ExampleListView(_Record):
    type: Literal["examples"] = "examples"
    title: str
    examples: list[Example]
    caption: str | None = None


View = Annotated[
    Union[TableView, BarChartView, LineChartView, TokenHeatmapView, MatrixHeatmapView, ExampleListView],
    Field(discriminator="type"),
]


# ---------------------------------------------------------------- suite and run


class SuiteResult(_Record):
    suite: str
    suite_version: str
    model: str
    status: Status = Status.PASSED
    duration_s: float = 0.0
    metrics: list[Metric] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    examples: list[Example] = Field(default_factory=list)
    views: list[View] = Field(default_factory=list)
    outcomes: list[Outcomes] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None

    def metric(self, name: str, group: Mapping[str, str] | str | None = None,
               condition: Condition | str = Condition.ORIGINAL) -> Metric | None:
        """The metric `name` of `group` (a mapping or its canonical text) under `condition`."""
        key = group if isinstance(group, str) or group is None else group_key(group)
        return next((m for m in self.metrics if m.name == name and m.group_key == key
                     and m.condition == Condition(condition)), None)


class ModelProvenance(_Record):
    path: str
    sha256: str
    kind: str
    details: dict[str, Any] = Field(default_factory=dict)


class DerivedModelProvenance(_Record):
    """A model the run built (e.g. a DP fine-tune): what from, how, and where it lives."""

    base: str                       # the model reference it was trained from
    path: str                       # resolved local folder of the artifact
    sha256: str                     # content fingerprint of the artifact
    kind: str
    recipe: dict[str, Any] = Field(default_factory=dict)
    recipe_sha256: str = ""
    data_sha256: str = ""
    training: dict[str, Any] = Field(default_factory=dict)


class DatasetProvenance(_Record):
    path: str
    sha256: str
    rows: int | None = None


class Provenance(_Record):
    models: dict[str, ModelProvenance] = Field(default_factory=dict)
    derived_models: dict[str, DerivedModelProvenance] = Field(default_factory=dict)
    datasets: dict[str, DatasetProvenance] = Field(default_factory=dict)
    config_path: str | None = None
    config_sha256: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    packages: dict[str, str] = Field(default_factory=dict)
    git_revision: str | None = None
    python: str = ""
    platform: str = ""
    device: str = ""
    seed: int = 0
    started_at: str = ""
    finished_at: str | None = None
    command: str | None = None           # the command line that made the run (to reproduce it)
    code_sha256: str | None = None       # of the project's source files (audit/, suites/, reports/)


# ---------------------------------------------------------------- comparisons, variants, history
# Computed once when a run is made (or compared) and stored here, so every renderer only reads them.

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


class AuditRun(_Record):
    schema_version: str = SCHEMA_VERSION
    run_id: str
    status: Status
    provenance: Provenance
    suites: list[SuiteResult] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    comparison: Comparison | None = None
    variants: list[VariantReport] = Field(default_factory=list)
    history: list[MetricHistory] = Field(default_factory=list)

    def all_findings(self) -> list[Finding]:
        return self.findings + [f for s in self.suites for f in s.findings]
