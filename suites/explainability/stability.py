"""Stability: do a method's attributions survive a meaning-preserving edit of the input?

The edit is a typo — two adjacent inner letters swapped — in the word that matters least (the
lowest |word attribution| of a reference method), inside the part of the input that is data
(the sentence, not the prompt template). Tokenizations of the two texts differ around the typo,
so attributions are compared per whitespace word (token scores summed), where both texts line up.
"""

from __future__ import annotations

import numpy as np

from audit.stats.ranks import spearman
from suites.explainability.tokens import TokenUnits, word_scores, word_scores_owned

MIN_WORD_LETTERS = 4
VARIANT_SUFFIX = "~typo"


def swap_typo(word: str, rng: np.random.Generator) -> str | None:
    """Swap two adjacent letters, neither the first nor the last (readers still read it); None if no swap
    changes the word."""
    candidates = [j for j in range(1, len(word) - 2) if word[j] != word[j + 1]]
    if not candidates:
        return None
    j = int(rng.choice(candidates))
    return word[:j] + word[j + 1] + word[j] + word[j + 2:]


def typo_variant(units: TokenUnits, reference: np.ndarray, editable: tuple[int, int] | None,
                 rng: np.random.Generator) -> str | None:
    """The text with a typo in its least-attributed editable word (None when no word qualifies)."""
    if editable is None:
        return None
    words, _ = units.word_index()
    per_word = np.abs(word_scores(units, reference))
    order = np.argsort(per_word, kind="stable")
    text = units.text
    for w in order:
        a, b = words[w]
        if a < editable[0] or b > editable[1] or b > len(units.covered_text):
            continue
        word = text[a:b]
        if len(word) < MIN_WORD_LETTERS or not word.isalpha():
            continue
        edited = swap_typo(word, rng)
        if edited is not None:
            return text[:a] + edited + text[b:]
    return None


def stability(original: TokenUnits, original_scores: np.ndarray, variant: TokenUnits,
              variant_scores: np.ndarray) -> float:
    """Spearman correlation of word-level attributions on the text and on its variant, over the words
    that carry features (a prompt's template words, or words past a truncation, are left out)."""
    (a, owned_a), (b, owned_b) = word_scores_owned(original, original_scores), word_scores_owned(variant,
                                                                                                 variant_scores)
    if a.size != b.size:
        raise ValueError(f"the variant has {b.size} words, the original {a.size}")
    both = owned_a | owned_b
    return spearman(a[both], b[both])
