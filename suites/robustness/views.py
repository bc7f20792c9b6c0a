"""Views of the robustness suite, built from data only (the renderer escapes every text)."""

from __future__ import annotations

import difflib
import re
from typing import Any, Sequence

from audit.results import (UNIT_PROPORTION, Bar, BarChartView, Estimate, Example, ExampleListView, LineChartView,
                           Series, Span, TableView)

TOKEN_RE = re.compile(r"\S+")


def accuracy_bars(title: str, clean: Estimate, perturbed: dict[str, Estimate], worst: Estimate | None,
                  caption: str) -> BarChartView:
    bars = [Bar(label="clean", value=clean.value, ci_low=clean.ci_low, ci_high=clean.ci_high, n=clean.n)]
    bars += [Bar(label=name, value=e.value, ci_low=e.ci_low, ci_high=e.ci_high, n=e.n) for name, e in perturbed.items()]
    if worst is not None:
        bars.append(Bar(label="worst case", value=worst.value, ci_low=worst.ci_low, ci_high=worst.ci_high, n=worst.n))
    return BarChartView(title=title, bars=bars, unit=UNIT_PROPORTION, reference=clean.value, caption=caption)


def severity_lines(title: str, clean_accuracy: float, curves: dict[str, list[tuple[float, float]]]) -> LineChartView:
    series = [Series(name=name, x=[0.0] + [s for s, _ in points], y=[clean_accuracy] + [a for _, a in points])
              for name, points in curves.items()]
    return LineChartView(title=title, series=series, x_label="severity (rate)", y_label="accuracy",
                         caption="Severity 0 is the clean text. The same words are perturbed, the same way, "
                                 "at every severity (more of them as it grows).")


def table(title: str, columns: list[str], rows: list[list[Any]], caption: str | None = None) -> TableView:
    return TableView(title=title, columns=columns, rows=rows, caption=caption)


def changed_token_spans(original: str, changed: str) -> list[Span]:
    """Character spans, in `changed`, of the whitespace-separated tokens that differ from `original`."""
    old = [m.group() for m in TOKEN_RE.finditer(original)]
    new_matches = list(TOKEN_RE.finditer(changed))
    new = [m.group() for m in new_matches]
    spans = []
    for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag in ("replace", "insert") and j2 > j1:
            spans.append(Span(start=new_matches[j1].start(), end=new_matches[j2 - 1].end()))
    return spans


def example_list(title: str, examples: Sequence[Example], caption: str | None = None) -> ExampleListView:
    return ExampleListView(title=title, examples=list(examples), caption=caption)
