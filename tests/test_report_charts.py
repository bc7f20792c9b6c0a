"""Charts, colour scales, span highlighting and number formatting of the HTML report, checked by hand."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from audit.results import UNIT_PROPORTION, Bar, BarChartView, LineChartView, MatrixHeatmapView, Series, Span
from reports import colors
from reports.charts import bar_chart_svg, line_chart_svg, matrix_heatmap_svg, nice_ticks
from reports.formatting import format_ci, format_duration, format_group, format_level, format_number, format_value
from reports.highlight import segments

EXAMPLE_TEXT = "He said <script>alert(1)</script> & left."


def _svg(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def test_bar_chart_geometry_matches_hand_computation():
    view = BarChartView(title="t", unit=UNIT_PROPORTION, reference=0.5, bars=[
        Bar(label="a", value=0.5, ci_low=0.4, ci_high=0.6, n=10),
        Bar(label="b", value=0.25),
    ])
    svg = _svg(bar_chart_svg(view))
    # domain = nice ticks of [0, 0.6] = 0..0.6 over pixels 250..650 (760 wide - 110 for value labels)
    bars = [r for r in svg.iter("rect") if "bar" in r.get("class", "")]
    assert [float(r.get("x")) for r in bars] == [250.0, 250.0]
    assert [float(r.get("width")) for r in bars] == pytest.approx([400 * 50 / 60, 400 * 25 / 60], abs=0.06)
    whiskers = [line for line in svg.iter("line") if line.get("class") == "whisker"]
    assert float(whiskers[0].get("x1")) == pytest.approx(250 + 400 * 40 / 60, abs=0.06)
    assert float(whiskers[0].get("x2")) == pytest.approx(650.0)
    reference = next(line for line in svg.iter("line") if line.get("class") == "reference")
    assert float(reference.get("x1")) == pytest.approx(250 + 400 * 50 / 60, abs=0.06)
    labels = [t.text for t in svg.iter("text")]
    assert "a (n=10)" in labels and "50.0%" in labels and "25.0%" in labels and "reference 50.0%" in labels
    assert "60%" in labels and "0%" in labels                      # axis ticks of a proportion in %


def test_bar_chart_negative_and_missing_values():
    view = BarChartView(title="t", bars=[Bar(label="neg", value=-2.0), Bar(label="nan", value=math.nan)])
    svg = _svg(bar_chart_svg(view))
    rects = [r for r in svg.iter("rect")]
    assert len(rects) == 1 and rects[0].get("class") == "bar negative"
    assert "n/a" in [t.text for t in svg.iter("text")]


def test_nice_ticks():
    assert nice_ticks(0, 57.3) == [0, 20, 40, 60]
    assert nice_ticks(0, 1) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert nice_ticks(-0.3, 0.8) == pytest.approx([-0.5, -0.25, 0, 0.25, 0.5, 0.75, 1.0])
    assert nice_ticks(math.nan, 1) == [0.0, 1.0]


def test_line_chart_draws_each_series_and_splits_at_nan():
    view = LineChartView(title="ROC", x_label="FPR", y_label="TPR", series=[
        Series(name="a", x=[0, 0.5, 1], y=[0, 0.5, 1]),
        Series(name="b", x=[0, 0.2, 0.4, 1], y=[0, math.nan, 0.6, 1]),
    ])
    svg = _svg(line_chart_svg(view))
    polylines = list(svg.iter("polyline"))
    assert len(polylines) == 2  # a; b after its NaN (the single point before is a circle)
    assert len(list(svg.iter("circle"))) == 1
    assert polylines[0].get("points") == "66,330 293,172 520,14"  # x: 66..520 (700 - legend 180), y: 330..14
    texts = [t.text for t in svg.iter("text")]
    assert "FPR" in texts and "TPR" in texts and "a" in texts and "b" in texts


def test_matrix_heatmap_colours_and_crop():
    view = MatrixHeatmapView(title="m", x_labels=["x0", "x1"], y_labels=["y0", "y1"], values=[[0.0, 1.0], [0.5, 0.25]])
    svg = _svg(matrix_heatmap_svg(view))
    cells = [r for r in svg.iter("rect") if r.get("class") == "cell"]
    assert [c.get("fill") for c in cells[:2]] == ["#ffffff", colors.hex_color(colors.SEQUENTIAL_HIGH)]
    signed_view = MatrixHeatmapView(title="m", x_labels=["a"], y_labels=["b", "c"], values=[[-2.0], [1.0]])
    signed = _svg(matrix_heatmap_svg(signed_view))
    fills = [r.get("fill") for r in signed.iter("rect") if r.get("class") == "cell"]
    # -2 is the largest |value|: full blue; 1.0 is half way from white to red (178, 24, 43) -> (216, 140, 149)
    assert fills == ["#2166ac", "#d88c95"]
    values = {t.text: t.get("style") for t in signed.iter("text") if t.get("class") == "cell-value"}
    assert values == {"-2.00": "fill:#ffffff", "1.00": "fill:#1a1a1a"}  # inline style: page CSS cannot override
    big = MatrixHeatmapView(title="big", x_labels=[str(i) for i in range(80)], y_labels=[str(i) for i in range(70)],
                            values=[[1.0] * 80 for _ in range(70)])
    big_svg = _svg(matrix_heatmap_svg(big))
    assert len([r for r in big_svg.iter("rect") if r.get("class") == "cell"]) == 64 * 64
    assert "showing the first 64 × 64 of 70 × 80" in [t.text for t in big_svg.iter("text")]


def test_colour_scales():
    assert colors.diverging(0.0, 1.0) == colors.WHITE
    assert colors.diverging(3.0, 3.0) == colors.POSITIVE_RED
    assert colors.diverging(-5.0, 3.0) == colors.NEGATIVE_BLUE  # clipped at the scale
    assert colors.diverging(1.0, 0.0) == colors.WHITE
    assert colors.max_abs([0.5, -2.0, math.nan]) == 2.0
    assert colors.text_on(colors.WHITE) == colors.DARK_TEXT
    assert colors.text_on(colors.SEQUENTIAL_HIGH) == colors.LIGHT_TEXT


# ---------------------------------------------------------------- highlighting and numbers


def test_segments_split_raw_text_at_span_boundaries():
    got = segments("abcdef", [Span(start=1, end=3, label="x"), Span(start=2, end=5, label="y")])
    assert [(s.text, s.marked, s.labels) for s in got] == [
        ("a", False, ()), ("b", True, ("x",)), ("c", True, ("x", "y")), ("de", True, ("y",)), ("f", False, ()),
    ]
    clipped = segments("abc", [Span(start=-3, end=1), Span(start=2, end=99), Span(start=2, end=1)])
    assert [(s.text, s.marked) for s in clipped] == [("a", True), ("b", False), ("c", True)]
    assert "".join(s.text for s in segments(EXAMPLE_TEXT, [Span(start=3, end=12)])) == EXAMPLE_TEXT


def test_number_formatting():
    assert format_number(57.345) == "57.3"
    assert format_number(0.84123) == "0.841"
    assert format_number(1508) == "1,508"
    assert format_number(1234.6) == "1,235"
    assert format_number(0.000123) == "1.23e-04"
    assert format_number(None) == "—" and format_number(math.nan) == "n/a"
    assert format_value(57.3, "%") == "57.3%" and format_value(1.5, "s") == "1.50 s"
    assert format_value(0.573, UNIT_PROPORTION) == "57.3%" and format_value(1.0, UNIT_PROPORTION) == "100%"
    assert format_ci(None, 1.0) == "—" and format_ci(0.8191, 0.862) == "[0.819, 0.862]"
    assert format_ci(0.8191, 0.862, UNIT_PROPORTION) == "[81.9, 86.2]"
    assert format_group(None) == "overall" and format_group({"dataset": "a", "label": "b"}) == "dataset: a, label: b"
    assert format_duration(75.2) == "1 min 15 s" and format_duration(4000) == "1 h 6 min"
    assert format_level(0.95) == "95%" and format_level(0.9) == "90%"


# ---------------------------------------------------------------- JUnit


def test_line_chart_log_axes_place_points_by_decade_and_drop_non_positive_values():
    from reports.charts import LogScale, line_chart_svg

    scale = LogScale(0.001, 1.0, 0.0, 300.0)
    assert scale(0.001) == 0.0 and scale(1.0) == 300.0 and scale(0.01) == pytest.approx(100.0)
    assert math.isnan(scale(0.0))
    view = LineChartView(title="roc", series=[Series(name="a", x=[0.0, 0.001, 0.01, 1.0], y=[0.0, 0.002, 0.05, 1.0])],
                         x_scale="log", y_scale="log")
    svg = str(line_chart_svg(view))
    assert ">0.001<" in svg and ">0.01<" in svg and ">1<" in svg and "<polyline" in svg
    assert svg.count("<polyline") == 1      # the (0, 0) point is not drawn on log axes, the rest is one line
