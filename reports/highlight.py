"""Split an example's raw text into plain and highlighted segments.

The split happens here, in Python, on the *raw* text; the template then escapes each
segment on its own. Escaping first and slicing afterwards would cut entities such as
`&lt;` in half and shift every offset.
"""

from __future__ import annotations

from dataclasses import dataclass

from audit.results import Span


@dataclass(frozen=True)
class Segment:
    """A run of text; `labels` lists the labels of the spans covering it (empty = not marked)."""

    text: str
    marked: bool = False
    labels: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return ", ".join(self.labels)


def _clipped(spans: list[Span], length: int) -> list[tuple[int, int, str | None]]:
    """Spans cut to the text; empty or reversed spans are dropped rather than failing a report."""
    out = []
    for span in spans:
        start, end = max(0, span.start), min(length, span.end)
        if start < end:
            out.append((start, end, span.label))
    return out


def segments(text: str, spans: list[Span]) -> list[Segment]:
    """Cut `text` at every span boundary; overlapping spans merge their labels."""
    ranges = _clipped(spans, len(text))
    if not ranges:
        return [Segment(text)] if text else []
    cuts = sorted({0, len(text)} | {r[0] for r in ranges} | {r[1] for r in ranges})
    result: list[Segment] = []
    for start, end in zip(cuts, cuts[1:]):
        covering = [r for r in ranges if r[0] <= start and r[1] >= end]
        labels = tuple(dict.fromkeys(r[2] for r in covering if r[2]))
        result.append(Segment(text[start:end], bool(covering), labels))
    return result
