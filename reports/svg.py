"""Tiny SVG element builder that escapes every attribute value and text node.

Charts are built from these calls only, so a label coming from a model or a data
file (`<script>…`) can never become markup: `Markup.format` escapes its arguments,
and the only `Markup` returned is the SVG assembled here.
"""

from __future__ import annotations

import math
from typing import Iterable

from markupsafe import Markup, escape

AttrValue = str | float | int | None


def num(value: float) -> str:
    """Coordinates with one decimal, no trailing zeros, never `-0`."""
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _attr_text(value: AttrValue) -> str:
    if isinstance(value, float):
        return num(value) if math.isfinite(value) else "0"
    return str(value)


def element(tag: str, content: str | Markup | Iterable[Markup] = "", **attrs: AttrValue) -> Markup:
    """`<tag a="v">content</tag>`; attribute names use `_` for `-` (and `class_` for `class`)."""
    parts = [
        Markup(' {}="{}"').format(Markup(name.rstrip("_").replace("_", "-")), _attr_text(value))
        for name, value in attrs.items()
        if value is not None
    ]
    if not isinstance(content, str):
        content = Markup("").join(content)
    body = escape(content)
    open_tag = Markup("<{}{}").format(Markup(tag), Markup("").join(parts))
    if not body:
        return open_tag + Markup("/>")
    return open_tag + Markup(">") + body + Markup("</{}>").format(Markup(tag))


def text(x: float, y: float, content: str, **attrs: AttrValue) -> Markup:
    return element("text", content, x=x, y=y, **attrs)


def line(x1: float, y1: float, x2: float, y2: float, **attrs: AttrValue) -> Markup:
    return element("line", x1=x1, y1=y1, x2=x2, y2=y2, **attrs)


def rect(x: float, y: float, width: float, height: float, **attrs: AttrValue) -> Markup:
    return element("rect", x=x, y=y, width=max(0.0, width), height=max(0.0, height), **attrs)


def tooltip(content: str) -> Markup:
    """A `<title>` child: browsers show it on hover, screen readers read it."""
    return element("title", content)


def document(width: float, height: float, children: Iterable[Markup], label: str, class_: str) -> Markup:
    """A responsive, self-contained `<svg>` with an accessible name."""
    return element(
        "svg",
        [tooltip(label), *children],
        viewBox=f"0 0 {num(width)} {num(height)}",
        width=width,
        height=height,
        role="img",
        aria_label=label,
        class_=class_,
    )


def truncate(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: max(1, limit - 1)] + "…"
