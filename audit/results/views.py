"""Data-only views: a suite says *what* to show (table, bars with CIs, curves, heat maps, examples)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field

from audit.results.records import Example, _Record

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


