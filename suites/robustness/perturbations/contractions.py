"""Contractions and expansions (HELM's ContractionPerturbation / ExpansionPerturbation).

`contraction` rewrites "do not" as "don't", `expansion` "don't" as "do not"; each occurrence with
probability `severity` (default 1: every one). Nothing else in the text changes. Ambiguous
contractions are expanded the common way ("it's" -> "it is", not "it has").
"""

from __future__ import annotations

import re

import numpy as np

from suites.robustness.text import match_case

CONTRACTIONS = {
    "are not": "aren't", "cannot": "can't", "could not": "couldn't", "did not": "didn't",
    "does not": "doesn't", "do not": "don't", "had not": "hadn't", "has not": "hasn't",
    "have not": "haven't", "he is": "he's", "he will": "he'll", "here is": "here's", "how is": "how's",
    "i am": "i'm", "i have": "i've", "i will": "i'll", "i would": "i'd", "is not": "isn't",
    "it is": "it's", "it will": "it'll", "let us": "let's", "must not": "mustn't", "she is": "she's",
    "she will": "she'll", "should not": "shouldn't", "that is": "that's", "there is": "there's",
    "they are": "they're", "they have": "they've", "they will": "they'll", "was not": "wasn't",
    "we are": "we're", "we have": "we've", "we will": "we'll", "were not": "weren't",
    "what is": "what's", "where is": "where's", "who is": "who's", "will not": "won't",
    "would not": "wouldn't", "you are": "you're", "you have": "you've", "you will": "you'll",
    "you would": "you'd",
}
EXPANSIONS = {short: long for long, short in CONTRACTIONS.items()}


def _pattern(phrases: list[str]) -> re.Pattern[str]:
    ordered = sorted(phrases, key=len, reverse=True)
    return re.compile(r"(?<![\w'’])(" + "|".join(re.escape(p) for p in ordered) + r")(?![\w'’])", re.IGNORECASE)


CONTRACTION_RE = _pattern(list(CONTRACTIONS))
EXPANSION_RE = _pattern(list(EXPANSIONS))


def _rewrite(text: str, rng: np.random.Generator, severity: float, pattern: re.Pattern[str],
             table: dict[str, str]) -> str:
    def swap(match: re.Match[str]) -> str:
        if rng.random() >= severity:
            return match.group()
        return match_case(match.group(), table[match.group().lower().replace("’", "'")])

    return pattern.sub(swap, text)


def contraction(text: str, rng: np.random.Generator, severity: float) -> str:
    return _rewrite(text, rng, severity, CONTRACTION_RE, CONTRACTIONS)


def expansion(text: str, rng: np.random.Generator, severity: float) -> str:
    return _rewrite(text, rng, severity, EXPANSION_RE, EXPANSIONS)
