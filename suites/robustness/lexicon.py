"""Where synonyms come from: WordNet (offline through nltk), else nearest neighbours of words in
the sentence encoder's embedding space.

Both answer the same three questions: `synonyms(word)` (single words, most common sense first),
`pos(word)` (WordNet parts of speech; empty when unknown) and `is_word(word)` (for the strict
"no new non-word" check of an attack). The embedding fallback knows no parts of speech, and its
neighbours can be antonyms (distributional spaces put "good" next to "bad"): the suite records a
finding when it is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np

from audit.models.adapters.base import CachePolicy, ModelAdapter
from suites.robustness.text import is_alpha_word, is_stopword

WORDNET = "wordnet"
EMBEDDING = "embedding"
NOUN, VERB, ADJ, ADV = "n", "v", "a", "r"


class Lexicon(Protocol):
    source: str

    def synonyms(self, word: str) -> list[str]: ...

    def pos(self, word: str) -> frozenset[str]: ...

    def primary_pos(self, word: str) -> str | None: ...

    def is_base_form(self, word: str, pos: str) -> bool: ...

    def is_word(self, word: str) -> bool: ...


def _pos_letter(tag: str) -> str:
    return ADJ if tag == "s" else tag      # adjective satellites count as adjectives


@dataclass
class WordNetLexicon:
    """Synonyms from WordNet synsets: single-word lemmas, in sense order, without the word itself
    or its base form ("movies" -> not "movie"), at most `max_synonyms`."""

    reader: Any                      # nltk WordNetCorpusReader
    max_synonyms: int = 20
    source: str = WORDNET
    _memo: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def synonyms(self, word: str) -> list[str]:
        key = word.lower()
        if key not in self._memo:
            self._memo[key] = self._lookup(key)
        return list(self._memo[key])

    def _lookup(self, word: str) -> list[str]:
        if not is_alpha_word(word):
            return []
        own = {word} | {self.reader.morphy(word, pos) for pos in (NOUN, VERB, ADJ, ADV)}
        found: list[str] = []
        for synset in self.reader.synsets(word):
            for lemma in synset.lemma_names():
                name = lemma.lower()
                if name in own or name in found or not is_alpha_word(name):
                    continue
                found.append(name)
                if len(found) >= self.max_synonyms:
                    return found
        return found

    def pos(self, word: str) -> frozenset[str]:
        return frozenset(_pos_letter(s.pos()) for s in self.reader.synsets(word.lower()))

    def primary_pos(self, word: str) -> str | None:
        """The part of speech of the word's most frequent sense (WordNet lists senses by frequency)."""
        synsets = self.reader.synsets(word.lower())
        return _pos_letter(synsets[0].pos()) if synsets else None

    def is_base_form(self, word: str, pos: str) -> bool:
        return self.reader.morphy(word.lower(), pos) == word.lower()

    def is_word(self, word: str) -> bool:
        return bool(self.reader.synsets(word.lower())) or is_stopword(word)


@dataclass
class EmbeddingLexicon:
    """Nearest neighbours among `vocabulary` by cosine of the encoder's embedding of each word
    alone. Built once for the words that will be asked about (one batched `embed` call)."""

    neighbours: dict[str, list[str]]
    vocabulary: frozenset[str]
    source: str = EMBEDDING

    @classmethod
    def build(cls, encoder: ModelAdapter, query_words: Sequence[str], vocabulary: Sequence[str], *,
              k: int, min_similarity: float) -> "EmbeddingLexicon":
        vocab = sorted({w.lower() for w in vocabulary if is_alpha_word(w) and not is_stopword(w)})
        queries = sorted({w.lower() for w in query_words if is_alpha_word(w) and not is_stopword(w)})
        if not vocab or not queries:
            return cls({}, frozenset(vocab))
        everything = sorted(set(vocab) | set(queries))
        vectors = np.asarray(encoder.embed(everything, cache=CachePolicy.PERSIST), dtype=np.float64)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        row = {w: i for i, w in enumerate(everything)}
        vocab_rows = np.array([row[w] for w in vocab])
        sims = vectors[[row[q] for q in queries]] @ vectors[vocab_rows].T
        neighbours: dict[str, list[str]] = {}
        for qi, query in enumerate(queries):
            order = np.argsort(-sims[qi], kind="stable")
            picked = [vocab[j] for j in order[:k + 1] if sims[qi, j] >= min_similarity and vocab[j] != query]
            neighbours[query] = picked[:k]
        return cls(neighbours, frozenset(vocab))

    def synonyms(self, word: str) -> list[str]:
        return list(self.neighbours.get(word.lower(), []))

    def pos(self, word: str) -> frozenset[str]:
        return frozenset()

    def primary_pos(self, word: str) -> str | None:
        return None

    def is_base_form(self, word: str, pos: str) -> bool:
        return True

    def is_word(self, word: str) -> bool:
        return word.lower() in self.vocabulary or is_stopword(word)
