"""Word-level operations of EDA (Wei & Zou, 2019): random deletion, random swap, random insertion of
a synonym, and synonym replacement, at a rate `severity` (EDA's alpha).

Deletion drops each word with probability `severity` (never every word). Swap, insertion and
replacement make n = round(severity x words) changes (at least one when severity > 0). Only words
move or change; punctuation marks stay where they are. Insertion and replacement draw synonyms
from a Lexicon (WordNet, or the embedding fallback) and skip stopwords, as EDA does.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from suites.robustness.lexicon import Lexicon
from suites.robustness.text import is_stopword, match_case, replace_words, word_spans

PerturbFn = Callable[[str, np.random.Generator, float], str]
# EDA's random insertion tries this many random words before giving up on finding one with synonyms
INSERTION_TRIES = 10


def n_changes(severity: float, n_words: int) -> int:
    return 0 if severity <= 0 or n_words == 0 else max(1, int(round(severity * n_words)))


def word_deletion(text: str, rng: np.random.Generator, severity: float) -> str:
    spans = word_spans(text)
    if len(spans) < 2:
        return text
    drop = rng.random(len(spans)) < severity
    if drop.all():                              # EDA keeps one random word
        drop[int(rng.integers(len(spans)))] = False
    replacements = {i: "" for i in np.flatnonzero(drop)}
    return replace_words(text, spans, replacements).text if replacements else text


def random_swap(text: str, rng: np.random.Generator, severity: float) -> str:
    spans = word_spans(text)
    if len(spans) < 2:
        return text
    order = [s.text for s in spans]
    for _ in range(n_changes(severity, len(spans))):
        i, j = rng.choice(len(spans), size=2, replace=False)
        order[i], order[j] = order[j], order[i]
    replacements = {i: w for i, w in enumerate(order) if w != spans[i].text}
    return replace_words(text, spans, replacements).text if replacements else text


def _content_indices(spans: list) -> list[int]:
    return [i for i, s in enumerate(spans) if not is_stopword(s.text)]


def synonym_substitution(lexicon: Lexicon) -> PerturbFn:
    def perturb(text: str, rng: np.random.Generator, severity: float) -> str:
        """n content words (with synonyms) are replaced by a random synonym each."""
        spans = word_spans(text)
        candidates = [i for i in _content_indices(spans) if lexicon.synonyms(spans[i].text)]
        if not candidates:
            return text
        n = min(n_changes(severity, len(spans)), len(candidates))
        chosen = sorted(rng.choice(candidates, size=n, replace=False)) if n else []
        replacements = {}
        for i in chosen:
            options = lexicon.synonyms(spans[i].text)
            replacements[int(i)] = match_case(spans[i].text, options[int(rng.integers(len(options)))])
        return replace_words(text, spans, replacements).text if replacements else text

    perturb.__name__ = "synonym_substitution"
    return perturb


def random_insertion(lexicon: Lexicon) -> PerturbFn:
    def perturb(text: str, rng: np.random.Generator, severity: float) -> str:
        """n times: a synonym of a random content word is inserted before a random word."""
        spans = word_spans(text)
        content = _content_indices(spans)
        if not content:
            return text
        inserted: dict[int, list[str]] = {}
        for _ in range(n_changes(severity, len(spans))):
            for _try in range(INSERTION_TRIES):
                source = spans[int(rng.choice(content))].text
                options = lexicon.synonyms(source)
                if options:
                    word = options[int(rng.integers(len(options)))]
                    inserted.setdefault(int(rng.integers(len(spans) + 1)), []).append(word)
                    break
        if not inserted:
            return text
        last = len(spans) - 1
        replacements = {}
        for i in sorted({min(p, last) for p in inserted}):
            before = inserted.get(i, [])
            after = inserted.get(len(spans), []) if i == last else []
            replacements[i] = " ".join(before + [spans[i].text] + after)
        return replace_words(text, spans, replacements).text

    perturb.__name__ = "random_insertion"
    return perturb
