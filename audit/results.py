"""Typed, versioned results: what suites produce and what renderers read.

`results.json` is an `AuditRun` dumped to JSON. Renderers import only this module,
never suite code (HELM's rule: the report reads stored results).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"


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


class Metric(Estimate):
    """One number of a suite; `group` set means a breakdown of the metric of the same name."""

    name: str
    group: str | None = None
    higher_is_better: bool | None = None
    unit: str | None = None
    description: str | None = None

    @classmethod
    def from_estimate(cls, name: str, estimate: Estimate, **fields: Any) -> "Metric":
        return cls(name=name, **estimate.model_dump(), **fields)


class Outcomes(_Record):
    """Per-example values behind an overall metric, for paired comparisons between runs."""

    metric: str
    group: str | None = None
    example_ids: list[str]
    values: list[float]


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

    def metric(self, name: str, group: str | None = None) -> Metric | None:
        return next((m for m in self.metrics if m.name == name and m.group == group), None)


class ModelProvenance(_Record):
    path: str
    sha256: str
    kind: str
    details: dict[str, Any] = Field(default_factory=dict)


class DatasetProvenance(_Record):
    path: str
    sha256: str
    rows: int | None = None


class Provenance(_Record):
    models: dict[str, ModelProvenance] = Field(default_factory=dict)
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


class AuditRun(_Record):
    schema_version: str = SCHEMA_VERSION
    run_id: str
    status: Status
    provenance: Provenance
    suites: list[SuiteResult] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)

    def all_findings(self) -> list[Finding]:
        return self.findings + [f for s in self.suites for f in s.findings]
