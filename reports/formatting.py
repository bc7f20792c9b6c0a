"""Number and duration formatting shared by the HTML page and its charts.

One place decides how a number looks, so a value reads the same in a table, a chart
label and a headline (3 significant digits, thousands separators, units attached).
Proportions are stored as fractions (unit "proportion") and shown as percentages.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

from audit.results import UNIT_PROPORTION, group_label

MISSING = "—"
NOT_A_NUMBER = "n/a"
PERCENT_UNITS = frozenset({"%", "percent"})
SIGNIFICANT_DIGITS = 3


def format_number(value: float | int | None, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A number with `digits` significant digits, no scientific notation between 1e-3 and 1e15."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return NOT_A_NUMBER if math.isnan(value) else ("∞" if value > 0 else "−∞")
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude >= 10 ** digits:
        return f"{value:,.0f}"
    if magnitude < 1e-3:
        return f"{value:.{digits - 1}e}"
    decimals = max(0, digits - 1 - math.floor(math.log10(magnitude)))
    return f"{value:.{decimals}f}"


def format_tick(value: float) -> str:
    """An axis tick: like `format_number` but without trailing zeros (0.25, not 0.250)."""
    text = format_number(value)
    if "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def format_level(confidence: float) -> str:
    """A confidence level as a percentage: 0.95 -> `95%`."""
    return f"{format_tick(confidence * 100)}%"


def as_shown(value: float | int | None, unit: str | None) -> float | int | None:
    """The number a reader sees: a proportion (a fraction in [0, 1]) as a percentage."""
    if unit == UNIT_PROPORTION and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value * 100.0
    return value


def with_unit(text: str, unit: str | None) -> str:
    """Attach a unit: `57.3%` for percentages and proportions, `1.2 s` for others, bare when unit-less."""
    if not unit or text in (MISSING, NOT_A_NUMBER):
        return text
    if unit in PERCENT_UNITS or unit == UNIT_PROPORTION:
        return f"{text}%"
    return f"{text} {unit}"


def format_value(value: float | int | None, unit: str | None = None) -> str:
    """A value with its unit; a proportion 0.573 reads `57.3%`."""
    return with_unit(format_number(as_shown(value, unit)), unit)


def format_ci(low: float | None, high: float | None, unit: str | None = None) -> str:
    """`[low, high]` (in % for a proportion), or a dash when the interval is missing."""
    if low is None or high is None:
        return MISSING
    return f"[{format_number(as_shown(low, unit))}, {format_number(as_shown(high, unit))}]"


def format_axis_tick(value: float, unit: str | None = None) -> str:
    """An axis tick in the chart's unit: 0.25 of a proportion reads `25%`."""
    if unit == UNIT_PROPORTION:
        return f"{format_tick(value * 100)}%"
    return format_tick(value)


def format_group(group: Mapping[str, str] | None) -> str:
    """A metric's group for readers: `bias_type: race-color`, or `overall`."""
    return group_label(group)


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    if seconds < 60:
        return f"{format_number(float(seconds))} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def format_cell(value: Any) -> str:
    """A table cell: numbers formatted, containers as compact JSON, anything else as text."""
    if value is None:
        return MISSING
    if isinstance(value, (bool, int, float)):
        return format_number(value)
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
