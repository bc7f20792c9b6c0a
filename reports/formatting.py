"""Number and duration formatting shared by the HTML page and its charts.

One place decides how a number looks, so a value reads the same in a table, a chart
label and a headline (3 significant digits, thousands separators, units attached).
"""

from __future__ import annotations

import json
import math
from typing import Any

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


def with_unit(text: str, unit: str | None) -> str:
    """Attach a unit: `57.3%` for percentages, `1.2 s` for others, bare when unit-less."""
    if not unit or text in (MISSING, NOT_A_NUMBER):
        return text
    if unit in PERCENT_UNITS:
        return f"{text}%"
    return f"{text} {unit}"


def format_value(value: float | int | None, unit: str | None = None) -> str:
    return with_unit(format_number(value), unit)


def format_ci(low: float | None, high: float | None) -> str:
    """`[low, high]`, or a dash when the interval is missing."""
    if low is None or high is None:
        return MISSING
    return f"[{format_number(low)}, {format_number(high)}]"


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
