"""Punctuation and whitespace noise.

`punctuation`: each punctuation mark between words (not one joining two words, as in
"writer/director") is dropped with probability `severity`, and after each word a mark from
NEUTRAL_MARKS (comma, semicolon, colon) is added with probability severity / 2. No "!" or "?"
(they can carry sentiment), no full stop (it would split the sentence). Words and their order
never change.
`whitespace`: each space becomes two to four spaces with probability `severity`; text.split()
is unchanged.
"""

from __future__ import annotations

import re

import numpy as np

from suites.robustness.text import WORD_RE

NEUTRAL_MARKS = (",", ";", ":")
PUNCT_RE = re.compile(r"[^\w\s]")
EXTRA_SPACES = (2, 3, 4)


def punctuation(text: str, rng: np.random.Generator, severity: float) -> str:
    words = {i for m in WORD_RE.finditer(text) for i in range(m.start(), m.end())}
    word_ends = {m.end() for m in WORD_RE.finditer(text)}
    draws = rng.random((len(text) + 1, 3))       # (drop?, add?, which mark) per position, always
    out: list[str] = []
    skip_space = False
    for i, char in enumerate(text):
        if skip_space and char == " ":
            skip_space = False
            continue
        skip_space = False
        if i in word_ends and draws[i, 1] < severity / 2:
            out.append(NEUTRAL_MARKS[min(int(draws[i, 2] * len(NEUTRAL_MARKS)), len(NEUTRAL_MARKS) - 1)])
        if i not in words and PUNCT_RE.match(char) and draws[i, 0] < severity and not _joins(text, i):
            # a free-standing mark (" , ") goes with one of its spaces, leaving no double space
            skip_space = (i == 0 or text[i - 1] == " ") and i + 1 < len(text) and text[i + 1] == " "
            continue
        out.append(char)
    if len(text) in word_ends and draws[len(text), 1] < severity / 2:
        out.append(NEUTRAL_MARKS[min(int(draws[len(text), 2] * len(NEUTRAL_MARKS)), len(NEUTRAL_MARKS) - 1)])
    return "".join(out)


def _joins(text: str, i: int) -> bool:
    """Whether the mark at i sits between two word characters ("writer/director"): dropping it
    would merge two words."""
    return 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()


def whitespace(text: str, rng: np.random.Generator, severity: float) -> str:
    draws = rng.random((len(text), 2))
    out: list[str] = []
    for i, char in enumerate(text):
        if char == " " and draws[i, 0] < severity:
            out.append(" " * EXTRA_SPACES[min(int(draws[i, 1] * len(EXTRA_SPACES)), len(EXTRA_SPACES) - 1)])
        else:
            out.append(char)
    return "".join(out)
