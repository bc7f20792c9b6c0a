"""Valid success, not just success (Morris et al., 2020: once TextFooler's constraints matched human
judgement, its success rate on BERT/MR fell from 86.6% to 10.6%).

A successful adversarial example is *valid* when it also passes stricter, offline checks:
- similarity: sentence similarity to the original at or above the strict threshold;
- part of speech (word substitutions): each substitute has a WordNet sense with the part of speech
  of the original word's most frequent sense, and agrees with it on being a base form or an
  inflected one ("movies" -> "film" fails: a plural became a singular). A heuristic stand-in for
  "no new grammar errors": there is no offline POS tagger here;
- known words (word substitutions): each substitute is a known word (WordNet or the vocabulary).
Checks that cannot be made (no WordNet: no parts of speech) are None and do not count.
"""

from __future__ import annotations

from dataclasses import dataclass

from suites.robustness.lexicon import Lexicon


@dataclass(frozen=True)
class Validity:
    similarity: bool
    pos: bool | None = None
    known_words: bool | None = None

    @property
    def valid(self) -> bool:
        return all(check is not False for check in (self.similarity, self.pos, self.known_words))

    def as_dict(self) -> dict[str, bool | None]:
        return {"similarity": self.similarity, "pos": self.pos, "known_words": self.known_words,
                "valid": self.valid}


def pos_consistent(original: str, substitute: str, lexicon: Lexicon) -> bool | None:
    pos = lexicon.primary_pos(original)
    if pos is None:
        return None
    return pos in lexicon.pos(substitute) and \
        lexicon.is_base_form(original, pos) == lexicon.is_base_form(substitute, pos)


def word_validity(changes: list[tuple[str, str]], similarity: float | None, strict_similarity: float,
                  lexicon: Lexicon) -> Validity:
    checks = [pos_consistent(old, new, lexicon) for old, new in changes]
    pos = None if any(c is None for c in checks) else all(checks)
    return Validity(similarity=similarity is not None and similarity >= strict_similarity, pos=pos,
                    known_words=all(lexicon.is_word(new) for _, new in changes))


def char_validity(similarity: float | None, strict_similarity: float) -> Validity:
    """Typos are non-words by design: only the similarity check applies."""
    return Validity(similarity=similarity is not None and similarity >= strict_similarity)
