"""How changes, p-values, sizes and latencies read in every report (HTML, Markdown, compliance)."""

from __future__ import annotations

import math

from audit.results import UNIT_PROPORTION, MetricChange
from reports.formatting import MISSING, format_number

PP = "pp"      # percentage points: the change of a proportion


def format_change(value: float | None, unit: str | None) -> str:
    """A signed change: `−4.1 pp` for a proportion, `+0.012` (with its unit) otherwise."""
    if value is None or not math.isfinite(value):
        return MISSING
    if unit == UNIT_PROPORTION:
        text, suffix = format_number(abs(value) * 100), f" {PP}"
    else:
        text, suffix = format_number(abs(value)), (f" {unit}" if unit and unit != "%" else "")
    if text == "0":
        return "0" + suffix
    return ("−" if value < 0 else "+") + text + suffix


def format_change_ci(low: float | None, high: float | None, unit: str | None) -> str:
    if low is None or high is None:
        return MISSING
    return f"[{format_change(low, unit)}, {format_change(high, unit)}]"


def format_p(value: float | None) -> str:
    """p-values: 3 significant digits, `<0.001` below."""
    if value is None or not math.isfinite(value):
        return MISSING
    if value < 0.001:
        return "<0.001"
    return format_number(value)


def format_bytes(value: int | None) -> str:
    if value is None:
        return MISSING
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= size:
            return f"{format_number(value / size)} {unit}"
    return f"{value} B"


def format_ms(value: float | None) -> str:
    return MISSING if value is None else f"{format_number(value)} ms"


def ratio(new: float | None, old: float | None) -> str:
    """`0.26×` of the original (size, latency)."""
    if new is None or old is None or old == 0:
        return MISSING
    return f"{format_number(new / old)}×"


def describe_test(change: MetricChange) -> str:
    """What was tested, in words, for a metric of a comparison."""
    if change.direction == "ideal":
        return f"distance from the ideal {format_number(change.ideal)}"
    if change.direction == "higher":
        return "higher is better"
    if change.direction == "lower":
        return "lower is better"
    return "no direction (not gated)"


def verdict(change: MetricChange) -> str:
    if change.regression:
        return "regression"
    if change.improvement:
        return "improvement"
    if change.direction == "none":
        return "not gated"
    if not change.tested:
        return "not tested"
    if change.p_adjusted is not None and change.worse_by > change.tolerance:
        return "worse, not supported"
    if change.verdict is not None and change.verdict.value == "inconclusive":
        return "inconclusive"
    return "no supported change"


def recipe_text(recipe: dict) -> str:
    """A variant's recipe in words: `prune 90% of each Linear weight (l1-unstructured), float16 weights`."""
    parts = []
    prune = recipe.get("prune")
    if isinstance(prune, dict):
        amount = prune.get("amount")
        share = f"{format_number(amount * 100)}%" if isinstance(amount, (int, float)) else "?"
        parts.append(f"prune {share} of each Linear weight ({prune.get('method', 'l1-unstructured')})")
    if recipe.get("dtype"):
        parts.append(f"{recipe['dtype']} weights")
    if recipe.get("quantize"):
        parts.append(f"{recipe['quantize']} quantisation of the Linear layers")
    known = {"prune", "dtype", "quantize"}
    parts += [f"{k}: {v}" for k, v in recipe.items() if k not in known]
    return ", ".join(parts) or MISSING
