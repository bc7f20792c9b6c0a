"""Case changes: each word is written in UPPER or Title case with probability `severity`.

Only the case of letters changes (text.lower() is unchanged; most rt-polarity text is lower case).
"""

from __future__ import annotations

import numpy as np

from suites.robustness.text import replace_words, word_spans


def case_change(text: str, rng: np.random.Generator, severity: float) -> str:
    spans = word_spans(text)
    draws = rng.random((len(spans), 2))         # (apply?, upper or title) for every word, always
    replacements = {}
    for i, span in enumerate(spans):
        if draws[i, 0] < severity:
            new = span.text.upper() if draws[i, 1] < 0.5 else span.text[:1].upper() + span.text[1:].lower()
            if new != span.text:
                replacements[i] = new
    return replace_words(text, spans, replacements).text if replacements else text
