"""Colour scales for heat maps and a colour-blind-safe palette for chart series.

Diverging red/blue (ColorBrewer RdBu ends) for signed scores such as attributions,
sequential blue for non-negative values such as attention weights.
"""

from __future__ import annotations

import math

RGB = tuple[int, int, int]

WHITE: RGB = (255, 255, 255)
POSITIVE_RED: RGB = (178, 24, 43)
NEGATIVE_BLUE: RGB = (33, 102, 172)
SEQUENTIAL_HIGH: RGB = (8, 48, 107)
DARK_TEXT = "#1a1a1a"
LIGHT_TEXT = "#ffffff"
# Okabe–Ito, without its yellow (too pale on white).
SERIES_PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def _clamp01(value: float) -> float:
    return 0.0 if not math.isfinite(value) else min(1.0, max(0.0, value))


def blend(low: RGB, high: RGB, t: float) -> RGB:
    t = _clamp01(t)
    return tuple(round(a + (b - a) * t) for a, b in zip(low, high))  # type: ignore[return-value]


def diverging(score: float, max_abs: float) -> RGB:
    """White at 0, red for positive, blue for negative; full colour at |score| == max_abs."""
    if not math.isfinite(score) or max_abs <= 0 or not math.isfinite(max_abs):
        return WHITE
    end = POSITIVE_RED if score > 0 else NEGATIVE_BLUE
    return blend(WHITE, end, abs(score) / max_abs)


def sequential(value: float, low: float, high: float) -> RGB:
    """White at `low`, dark blue at `high`."""
    if not math.isfinite(value) or high <= low:
        return WHITE
    return blend(WHITE, SEQUENTIAL_HIGH, (value - low) / (high - low))


def hex_color(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def text_on(rgb: RGB) -> str:
    """Dark or light text, whichever reads better on `rgb` (WCAG relative luminance)."""

    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return DARK_TEXT if luminance > 0.22 else LIGHT_TEXT


def series_color(index: int) -> str:
    return SERIES_PALETTE[index % len(SERIES_PALETTE)]


def max_abs(values: list[float]) -> float:
    """Largest finite |value| (0 when there is none): the scale of a diverging map."""
    finite = [abs(v) for v in values if math.isfinite(v)]
    return max(finite, default=0.0)


def cell_style(score: float, scale: float) -> str:
    """Inline CSS for a token or cell coloured on the diverging scale (numbers only: safe)."""
    rgb = diverging(score, scale)
    return f"background-color:{hex_color(rgb)};color:{text_on(rgb)}"
