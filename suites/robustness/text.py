"""Words in a text as character spans, and rebuilding a text with some words replaced.

Perturbations and attacks edit words and leave every other character where it was, so a
change can be highlighted by its span and checked by tests ("only the words changed").
A word is a run of letters or digits with inner apostrophes ("doesn't", "film's").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
ALPHA_RE = re.compile(r"^[^\W\d_]+$")

# Function words the attacks never change and EDA never picks for synonyms: articles, pronouns,
# prepositions, conjunctions, auxiliaries and negations (a negation swap would change the meaning,
# not test robustness). Hand-written for this project.
STOPWORDS = frozenset("""
a about above after again against all am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself
him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most
mustn't my myself no nor not of off on once only or other ought our ours ourselves out over own same shan't
she she'd she'll she's should shouldn't so some such than that that's the their theirs them themselves then
there there's these they they'd they'll they're they've this those through to too under until up very was
wasn't we we'd we'll we're we've were weren't what what's when when's where where's which while who who's
whom why why's with won't would wouldn't you you'd you'll you're you've your yours yourself yourselves
never none nothing nobody neither without n't 's
""".split())


@dataclass(frozen=True)
class WordSpan:
    start: int
    end: int
    text: str


def word_spans(text: str) -> list[WordSpan]:
    return [WordSpan(m.start(), m.end(), m.group()) for m in WORD_RE.finditer(text)]


def is_alpha_word(word: str) -> bool:
    return bool(ALPHA_RE.match(word))


def is_stopword(word: str) -> bool:
    return word.lower().replace("’", "'") in STOPWORDS


def match_case(original: str, replacement: str) -> str:
    """`replacement` in the case pattern of `original` (lower, Title or UPPER)."""
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


@dataclass(frozen=True)
class Rebuilt:
    text: str
    spans: dict[int, tuple[int, int]]     # word index -> (start, end) of its replacement in `text`


def replace_words(text: str, spans: list[WordSpan], replacements: Mapping[int, str]) -> Rebuilt:
    """`text` with word i replaced by replacements[i]; an empty replacement deletes the word
    together with one neighbouring space, so no double space is left behind."""
    out: list[str] = []
    where: dict[int, tuple[int, int]] = {}
    cursor = 0
    length = 0
    for index in sorted(replacements):
        span = spans[index]
        start, end = span.start, span.end
        new = replacements[index]
        if not new:
            if end < len(text) and text[end] == " " and start >= cursor:
                end += 1
            elif start > cursor and text[start - 1] == " ":
                start -= 1
        piece = text[cursor:start]
        out.append(piece)
        length += len(piece)
        where[index] = (length, length + len(new))
        out.append(new)
        length += len(new)
        cursor = end
    out.append(text[cursor:])
    return Rebuilt("".join(out), where)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions), O(len(a)·len(b))."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
