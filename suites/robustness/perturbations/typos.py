"""Keyboard typos (HELM / nlpaug style): substitution by a neighbouring key, deletion, insertion of a
neighbouring key, transposition of two adjacent letters.

Each word of two or more letters gets one typo with probability `severity`. Every word draws the
same random numbers whatever the severity, so the words typo'd at a low severity are also typo'd,
the same way, at a higher one (a smoother accuracy-vs-severity curve). Only letters inside words
change; spaces, punctuation and word order stay.
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np

from suites.robustness.text import replace_words, word_spans

QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> dict[str, str]:
    """Keys next to each letter on a QWERTY keyboard (same row, and the rows above and below)."""
    where = {c: (r, i) for r, row in enumerate(QWERTY_ROWS) for i, c in enumerate(row)}
    near: dict[str, str] = {}
    for c, (r, i) in where.items():
        found = []
        for dr in (-1, 0, 1):
            row = r + dr
            if not 0 <= row < len(QWERTY_ROWS):
                continue
            for j in (i - 1, i, i + 1):
                if 0 <= j < len(QWERTY_ROWS[row]) and (row, j) != (r, i):
                    found.append(QWERTY_ROWS[row][j])
        near[c] = "".join(sorted(set(found)))
    return near


KEY_NEIGHBOURS = _neighbours()
MIN_LETTERS = 2

Edit = Callable[[str, float, float], str]


def _neighbour_of(letter: str, u: float) -> str:
    keys = KEY_NEIGHBOURS.get(letter.lower())
    if not keys:
        return letter
    key = keys[min(int(u * len(keys)), len(keys) - 1)]
    return key.upper() if letter.isupper() else key


def _letter_positions(word: str) -> list[int]:
    return [i for i, c in enumerate(word) if c.isalpha()]


def _pick(positions: list[int], u: float) -> int:
    return positions[min(int(u * len(positions)), len(positions) - 1)]


def substitute_edit(word: str, u_pos: float, u_key: float) -> str:
    letters = _letter_positions(word)
    i = _pick(letters, u_pos)
    return word[:i] + _neighbour_of(word[i], u_key) + word[i + 1:]


def _deletable(word: str) -> list[int]:
    """Letters whose removal leaves no piece of the word empty ("it's" keeps its "s")."""
    out, start = [], 0
    for piece in re.split(r"['’]", word):
        if len(piece) >= 2:
            out += [start + k for k, c in enumerate(piece) if c.isalpha()]
        start += len(piece) + 1
    return out


def delete_edit(word: str, u_pos: float, _u: float) -> str:
    letters = _deletable(word)
    if len(_letter_positions(word)) <= MIN_LETTERS or not letters:
        return word
    i = _pick(letters, u_pos)
    return word[:i] + word[i + 1:]


def insert_edit(word: str, u_pos: float, u_key: float) -> str:
    letters = _letter_positions(word)
    i = _pick(letters, u_pos)
    return word[:i + 1] + _neighbour_of(word[i], u_key) + word[i + 1:]


def transpose_edit(word: str, u_pos: float, _u: float) -> str:
    pairs = [i for i in range(len(word) - 1)
             if word[i].isalpha() and word[i + 1].isalpha() and word[i] != word[i + 1]]
    if not pairs:
        return word
    i = _pick(pairs, u_pos)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def apply_typos(text: str, rng: np.random.Generator, severity: float, edit: Edit) -> str:
    spans = word_spans(text)
    draws = rng.random((len(spans), 3))        # (apply?, position, key) for every word, always
    replacements = {}
    for i, span in enumerate(spans):
        if draws[i, 0] < severity and len(_letter_positions(span.text)) >= MIN_LETTERS:
            new = edit(span.text, draws[i, 1], draws[i, 2])
            if new != span.text:
                replacements[i] = new
    return replace_words(text, spans, replacements).text if replacements else text


def typo_substitute(text: str, rng: np.random.Generator, severity: float) -> str:
    """A letter becomes a neighbouring key ("movie" -> "movke")."""
    return apply_typos(text, rng, severity, substitute_edit)


def typo_delete(text: str, rng: np.random.Generator, severity: float) -> str:
    """A letter is dropped ("movie" -> "movi"); words keep at least two letters."""
    return apply_typos(text, rng, severity, delete_edit)


def typo_insert(text: str, rng: np.random.Generator, severity: float) -> str:
    """A neighbouring key is typed after a letter ("movie" -> "mobvie")."""
    return apply_typos(text, rng, severity, insert_edit)


def typo_transpose(text: str, rng: np.random.Generator, severity: float) -> str:
    """Two adjacent letters swap ("movie" -> "mvoie")."""
    return apply_typos(text, rng, severity, transpose_edit)
