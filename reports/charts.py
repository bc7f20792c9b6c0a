"""Inline SVG for the chart views (bar, line, matrix heat map): no JavaScript, no network.

Every label passes through `reports.svg`, which escapes it; each function returns
`Markup` only for the SVG it assembled itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from markupsafe import Markup

from audit.results import Bar, BarChartView, LineChartView, MatrixHeatmapView, Series
from reports import colors, svg
from reports.formatting import format_axis_tick, format_ci, format_number, format_tick, format_value

BAR_WIDTH = 760
BAR_LABEL_WIDTH = 250
BAR_VALUE_WIDTH = 110
BAR_ROW = 26
BAR_THICKNESS = 14
BAR_LABEL_CHARS = 26

LINE_WIDTH = 700
LINE_HEIGHT = 380
LINE_MARGIN_LEFT = 66
LINE_LEGEND_WIDTH = 180
LINE_MARGIN_TOP = 14
LINE_MARGIN_BOTTOM = 50
LEGEND_ROW = 20
LEGEND_CHARS = 24

MATRIX_TARGET = 520
MATRIX_MIN_CELL = 6.0
MATRIX_MAX_CELL = 44.0
MATRIX_MAX_SIDE = 64
MATRIX_LABEL_CHARS = 16
MATRIX_VALUE_TEXT_CELL = 30.0
MATRIX_LEGEND_STEPS = 10

AXIS_FONT = 11

ColorScale = tuple[str, float, float]  # (kind, low, high), kind is "diverging" or "sequential"


@dataclass(frozen=True)
class LinearScale:
    """Maps a data interval onto a pixel interval."""

    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, value: float) -> float:
        if self.d1 == self.d0:
            return (self.r0 + self.r1) / 2
        return self.r0 + (value - self.d0) * (self.r1 - self.r0) / (self.d1 - self.d0)


@dataclass(frozen=True)
class LogScale:
    """Maps a positive data interval onto a pixel interval by log10 (non-positive values -> NaN)."""

    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, value: float) -> float:
        if not value > 0:
            return math.nan
        low, high = math.log10(self.d0), math.log10(self.d1)
        if high == low:
            return (self.r0 + self.r1) / 2
        return self.r0 + (math.log10(value) - low) * (self.r1 - self.r0) / (high - low)


def log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten covering [low, high] (both > 0)."""
    start, stop = math.floor(math.log10(low) + 1e-9), math.ceil(math.log10(high) - 1e-9)
    return [10.0 ** k for k in range(start, max(stop, start + 1) + 1)]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 × 10^k) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    low, high = min(low, high), max(low, high)
    if high == low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    start = math.floor(low / step + 1e-9) * step
    stop = math.ceil(high / step - 1e-9) * step
    steps = int(round((stop - start) / step))
    return [round(start + i * step, 12) for i in range(steps + 1)]


def _finite(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _empty(message: str) -> Markup:
    return Markup('<p class="empty">{}</p>').format(message)


# ---------------------------------------------------------------- bar chart


def _bar_label(bar: Bar) -> str:
    label = svg.truncate(bar.label, BAR_LABEL_CHARS)
    return label if bar.n is None else f"{label} (n={bar.n:,})"


def _bar_tooltip(bar: Bar, unit: str | None) -> str:
    parts = [f"{bar.label}: {format_value(bar.value, unit)}"]
    if bar.ci_low is not None and bar.ci_high is not None:
        parts.append(f"CI {format_ci(bar.ci_low, bar.ci_high, unit)}")
    if bar.n is not None:
        parts.append(f"n={bar.n:,}")
    return " · ".join(parts)


def _bar_row(bar: Bar, x: LinearScale, top: float, unit: str | None) -> Markup:
    mid = top + BAR_ROW / 2
    items = [svg.tooltip(_bar_tooltip(bar, unit))]
    items.append(svg.text(BAR_LABEL_WIDTH - 8, mid + 4, _bar_label(bar), class_="bar-label", text_anchor="end"))
    right = x(0.0)
    if math.isfinite(bar.value):
        x0, x1 = sorted((x(0.0), x(bar.value)))
        kind = "bar negative" if bar.value < 0 else "bar"
        items.append(svg.rect(x0, mid - BAR_THICKNESS / 2, x1 - x0, BAR_THICKNESS, class_=kind))
        right = max(right, x(bar.value))
    if bar.ci_low is not None and bar.ci_high is not None and math.isfinite(bar.ci_low + bar.ci_high):
        lo, hi = x(bar.ci_low), x(bar.ci_high)
        items.append(svg.line(lo, mid, hi, mid, class_="whisker"))
        items.append(svg.line(lo, mid - 5, lo, mid + 5, class_="whisker"))
        items.append(svg.line(hi, mid - 5, hi, mid + 5, class_="whisker"))
        right = max(right, hi)
    items.append(svg.text(right + 6, mid + 4, format_value(bar.value, unit), class_="value-label"))
    return svg.element("g", items, class_="bar-row")


def bar_chart_svg(view: BarChartView) -> Markup:
    """Horizontal bars with CI whiskers, value labels, n in the label and an optional reference line."""
    if not view.bars:
        return _empty("No bars to show.")
    extent = _finite([0.0, view.reference] + [v for b in view.bars for v in (b.value, b.ci_low, b.ci_high)])
    ticks = nice_ticks(min(extent), max(extent))
    top = 24.0 if view.reference is not None else 8.0
    plot_height = len(view.bars) * BAR_ROW
    height = top + plot_height + 30
    x = LinearScale(ticks[0], ticks[-1], BAR_LABEL_WIDTH, BAR_WIDTH - BAR_VALUE_WIDTH)
    items: list[Markup] = []
    for tick in ticks:
        items.append(svg.line(x(tick), top, x(tick), top + plot_height, class_="grid"))
        items.append(svg.text(x(tick), top + plot_height + 16, format_axis_tick(tick, view.unit), class_="tick",
                              text_anchor="middle"))
    items.append(svg.line(x(0.0), top - 2, x(0.0), top + plot_height + 2, class_="axis"))
    items.extend(_bar_row(bar, x, top + i * BAR_ROW, view.unit) for i, bar in enumerate(view.bars))
    if view.reference is not None and math.isfinite(view.reference):
        ref = x(view.reference)
        items.append(svg.line(ref, top - 4, ref, top + plot_height, class_="reference"))
        label = f"reference {format_value(view.reference, view.unit)}"
        items.append(svg.text(ref, top - 8, label, class_="reference-label", text_anchor="middle"))
    return svg.document(BAR_WIDTH, height, items, view.title, "chart bar-chart")


# ---------------------------------------------------------------- line chart


Scale = LinearScale | LogScale


def _runs(series: Series, x: Scale, y: Scale) -> list[list[tuple[str, str]]]:
    """Pixel points split at non-finite values, consecutive duplicates (after rounding) dropped."""
    runs: list[list[tuple[str, str]]] = [[]]
    for xv, yv in zip(series.x, series.y):
        px, py = (x(xv), y(yv)) if math.isfinite(xv) and math.isfinite(yv) else (math.nan, math.nan)
        if not (math.isfinite(px) and math.isfinite(py)):
            runs.append([])
            continue
        point = (svg.num(px), svg.num(py))
        if not runs[-1] or runs[-1][-1] != point:
            runs[-1].append(point)
    return [r for r in runs if r]


def _series_marks(series: Series, color: str, x: Scale, y: Scale) -> Markup:
    marks = [svg.tooltip(series.name)]
    for run in _runs(series, x, y):
        if len(run) == 1:
            marks.append(svg.element("circle", cx=run[0][0], cy=run[0][1], r=3, fill=color))
        else:
            points = " ".join(f"{px},{py}" for px, py in run)
            marks.append(svg.element("polyline", points=points, stroke=color, class_="series"))
    return svg.element("g", marks, class_="series-group")


def _legend(series: list[Series], left: float, top: float) -> list[Markup]:
    items = []
    for i, s in enumerate(series):
        y = top + i * LEGEND_ROW
        items.append(svg.line(left, y, left + 18, y, stroke=colors.series_color(i), class_="legend-swatch"))
        items.append(svg.text(left + 24, y + 4, svg.truncate(s.name, LEGEND_CHARS), class_="legend-label"))
    return items


class _Axes(NamedTuple):
    x: Scale
    y: Scale
    x_ticks: list[float]
    y_ticks: list[float]


def _axis(values: list[float], kind: str, r0: float, r1: float) -> tuple[Scale, list[float]]:
    """A scale and its ticks; a log axis keeps only the positive values."""
    if kind == "log":
        ticks = log_ticks(min(values), max(values))
        return LogScale(ticks[0], ticks[-1], r0, r1), ticks
    ticks = nice_ticks(min(values), max(values))
    return LinearScale(ticks[0], ticks[-1], r0, r1), ticks


def _axes(xs: list[float], ys: list[float], height: float, view: LineChartView) -> _Axes:
    x, x_ticks = _axis(xs, view.x_scale, LINE_MARGIN_LEFT, LINE_WIDTH - LINE_LEGEND_WIDTH)
    y, y_ticks = _axis(ys, view.y_scale, height - LINE_MARGIN_BOTTOM, LINE_MARGIN_TOP)
    return _Axes(x, y, x_ticks, y_ticks)


def _line_frame(view: LineChartView, axes: _Axes, height: float) -> list[Markup]:
    """Grid, tick labels, frame and axis titles of a line chart."""
    x, y, x_ticks, y_ticks = axes
    bottom, right = height - LINE_MARGIN_BOTTOM, LINE_WIDTH - LINE_LEGEND_WIDTH
    items: list[Markup] = []
    for tick in x_ticks:
        items.append(svg.line(x(tick), LINE_MARGIN_TOP, x(tick), bottom, class_="grid"))
        items.append(svg.text(x(tick), bottom + 16, format_tick(tick), class_="tick", text_anchor="middle"))
    for tick in y_ticks:
        items.append(svg.line(LINE_MARGIN_LEFT, y(tick), right, y(tick), class_="grid"))
        items.append(svg.text(LINE_MARGIN_LEFT - 6, y(tick) + 4, format_tick(tick), class_="tick", text_anchor="end"))
    width, plot_height = right - LINE_MARGIN_LEFT, bottom - LINE_MARGIN_TOP
    items.append(svg.rect(LINE_MARGIN_LEFT, LINE_MARGIN_TOP, width, plot_height, class_="frame"))
    centre_x, centre_y = (LINE_MARGIN_LEFT + right) / 2, (LINE_MARGIN_TOP + bottom) / 2
    items.append(svg.text(centre_x, height - 10, view.x_label, class_="axis-label", text_anchor="middle"))
    turn = f"rotate(-90 16 {svg.num(centre_y)})"
    items.append(svg.text(16, centre_y, view.y_label, class_="axis-label", text_anchor="middle", transform=turn))
    return items


def line_chart_svg(view: LineChartView) -> Markup:
    """Polylines on numbered axes with a legend (e.g. ROC curves, accuracy vs perturbation rate)."""
    xs = [v for v in _finite([v for s in view.series for v in s.x]) if view.x_scale != "log" or v > 0]
    ys = [v for v in _finite([v for s in view.series for v in s.y]) if view.y_scale != "log" or v > 0]
    if not xs or not ys:
        return _empty("No points to show.")
    height = max(LINE_HEIGHT, LINE_MARGIN_TOP + LEGEND_ROW * len(view.series) + LINE_MARGIN_BOTTOM)
    axes = _axes(xs, ys, height, view)
    items = _line_frame(view, axes, height)
    items.extend(_series_marks(s, colors.series_color(i), axes.x, axes.y) for i, s in enumerate(view.series))
    items.extend(_legend(view.series, LINE_WIDTH - LINE_LEGEND_WIDTH + 16, LINE_MARGIN_TOP + 8))
    return svg.document(LINE_WIDTH, height, items, view.title, "chart line-chart")


# ---------------------------------------------------------------- matrix heat map


@dataclass(frozen=True)
class _Grid:
    """Geometry of a heat map: where cells and labels go."""

    rows: int
    cols: int
    cell: float
    font: float
    left: float
    top: float


def _grid(x_labels: list[str], y_labels: list[str], rows: int, cols: int) -> _Grid:
    cell = min(MATRIX_MAX_CELL, max(MATRIX_MIN_CELL, MATRIX_TARGET / max(rows, cols)))
    font = min(float(AXIS_FONT), max(6.0, cell * 0.75))
    char = font * 0.62
    left = 10 + char * max((len(label) for label in y_labels), default=1)
    top = 10 + char * 0.85 * max((len(label) for label in x_labels), default=1)
    return _Grid(rows, cols, cell, font, left, top)


def _scale(values: list[float]) -> ColorScale:
    """('diverging', -m, m) when any value is negative, else ('sequential', 0, max)."""
    if any(v < 0 for v in values):
        bound = colors.max_abs(values)
        return "diverging", -bound, bound
    return "sequential", 0.0, max(values, default=0.0)


def _color(value: float | None, scale: ColorScale) -> colors.RGB:
    kind, low, high = scale
    if value is None:
        return colors.WHITE
    return colors.diverging(value, high) if kind == "diverging" else colors.sequential(value, low, high)


def _cells(view: MatrixHeatmapView, grid: _Grid, xl: list[str], yl: list[str], scale: ColorScale) -> list[Markup]:
    items = []
    for i in range(grid.rows):
        row = view.values[i] if i < len(view.values) else []
        for j in range(grid.cols):
            value = row[j] if j < len(row) else None
            rgb = _color(value, scale)
            x, y = grid.left + j * grid.cell, grid.top + i * grid.cell
            cell = [svg.tooltip(f"{yl[i]} × {xl[j]}: {format_number(value)}")]
            cell.append(svg.rect(x, y, grid.cell, grid.cell, fill=colors.hex_color(rgb), class_="cell"))
            if grid.cell >= MATRIX_VALUE_TEXT_CELL and value is not None:
                ink = f"fill:{colors.text_on(rgb)}"
                centre_x, centre_y = x + grid.cell / 2, y + grid.cell / 2 + 3.5
                label = format_number(value)
                cell.append(svg.text(centre_x, centre_y, label, style=ink, class_="cell-value", text_anchor="middle"))
            items.append(svg.element("g", cell))
    return items


def _font(size: float) -> str:
    """Inline style, not an attribute: the page's CSS would override a presentation attribute."""
    return f"font-size:{svg.num(size)}px"


def _matrix_labels(grid: _Grid, xl: list[str], yl: list[str]) -> list[Markup]:
    items = []
    for j, label in enumerate(xl):
        cx, cy = grid.left + j * grid.cell + grid.cell / 2, grid.top - 5
        turn = f"rotate(-55 {svg.num(cx)} {svg.num(cy)})"
        items.append(svg.text(cx, cy, label, class_="matrix-label", style=_font(grid.font), transform=turn))
    for i, label in enumerate(yl):
        y = grid.top + i * grid.cell + grid.cell / 2 + grid.font / 3
        style = _font(grid.font)
        items.append(svg.text(grid.left - 5, y, label, class_="matrix-label", style=style, text_anchor="end"))
    return items


def _matrix_legend(grid: _Grid, scale: ColorScale) -> list[Markup]:
    _, low, high = scale
    x = grid.left + grid.cols * grid.cell + 16
    step_h = min(grid.rows * grid.cell, 200) / MATRIX_LEGEND_STEPS
    items = []
    for k in range(MATRIX_LEGEND_STEPS):
        value = high - (high - low) * (k + 0.5) / MATRIX_LEGEND_STEPS
        items.append(svg.rect(x, grid.top + k * step_h, 12, step_h, fill=colors.hex_color(_color(value, scale))))
    items.append(svg.text(x + 16, grid.top + 9, format_number(high), class_="tick"))
    items.append(svg.text(x + 16, grid.top + MATRIX_LEGEND_STEPS * step_h, format_number(low), class_="tick"))
    return items


def matrix_heatmap_svg(view: MatrixHeatmapView) -> Markup:
    """A grid of coloured cells with axis labels (e.g. attention); large matrices are cropped."""
    full_rows = max(len(view.y_labels), len(view.values))
    full_cols = max([len(view.x_labels)] + [len(r) for r in view.values])
    rows, cols = min(full_rows, MATRIX_MAX_SIDE), min(full_cols, MATRIX_MAX_SIDE)
    if rows == 0 or cols == 0:
        return _empty("Empty matrix.")
    xl = [svg.truncate(view.x_labels[j], MATRIX_LABEL_CHARS) if j < len(view.x_labels) else "" for j in range(cols)]
    yl = [svg.truncate(view.y_labels[i], MATRIX_LABEL_CHARS) if i < len(view.y_labels) else "" for i in range(rows)]
    grid = _grid(xl, yl, rows, cols)
    scale = _scale(_finite([v for r in view.values[:rows] for v in r[:cols]]))
    items = _matrix_labels(grid, xl, yl) + _cells(view, grid, xl, yl, scale) + _matrix_legend(grid, scale)
    height = grid.top + rows * grid.cell + 10
    if (rows, cols) != (full_rows, full_cols):
        note = f"showing the first {rows} × {cols} of {full_rows} × {full_cols}"
        items.append(svg.text(grid.left, height + 6, note, class_="note"))
        height += 16
    width = grid.left + cols * grid.cell + 90
    return svg.document(width, height, items, view.title, "chart matrix-heatmap")
