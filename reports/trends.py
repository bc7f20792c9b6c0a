"""Trend charts of headline metrics over the stored history (read from `AuditRun.history`)."""

from __future__ import annotations

from audit.results import UNIT_PROPORTION, LineChartView, MetricHistory, Series
from reports.formatting import as_shown


def trend_view(history: MetricHistory) -> LineChartView:
    """Value and CI bounds per run (x = run number, oldest first); proportions in %."""
    points = history.points
    xs = [float(i + 1) for i in range(len(points))]
    series = [Series(name="value", x=xs, y=[float(as_shown(p.value, history.unit)) for p in points])]
    if points and all(p.ci_low is not None and p.ci_high is not None for p in points):
        series.append(Series(name="CI low", x=xs, y=[float(as_shown(p.ci_low, history.unit)) for p in points]))
        series.append(Series(name="CI high", x=xs, y=[float(as_shown(p.ci_high, history.unit)) for p in points]))
    tagged = [f"run {i + 1} = {', '.join(p.tags)}" for i, p in enumerate(points) if p.tags]
    span = f"{points[0].started_at[:10]} to {points[-1].started_at[:10]}" if points else ""
    caption = f"{len(points)} stored run(s) of this audit, {span}" + (f"; {'; '.join(tagged)}" if tagged else "")
    unit = "%" if history.unit == UNIT_PROPORTION else (history.unit or "")
    return LineChartView(title=f"{history.metric} · {history.model}", series=series, x_label="run (oldest first)",
                         y_label=f"{history.metric}" + (f" ({unit})" if unit else ""), caption=caption)
