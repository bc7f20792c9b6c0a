"""Word-level attack, TextFooler-style (Jin et al., 2020), with WordNet synonyms.

Candidates for a word are its synonyms (WordNet, or embedding neighbours when WordNet is missing),
case-matched; stopwords are never changed. A candidate is kept only while the sentence embedding
of the whole text stays within `similarity_threshold` (cosine) of the original's, and the share
of changed words stays within `max_change_share`. Differences from the paper: leave-one-out
importance without its label-change term (the same order for two classes), WordNet instead of
counter-fitted embeddings for candidates, and a whole-sentence encoder instead of USE on a window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audit.models.adapters.base import CachePolicy
from suites.robustness.attacks.search import Document, Proposal
from suites.robustness.attacks.similarity import SentenceSimilarity
from suites.robustness.config import WordAttackConfig
from suites.robustness.lexicon import Lexicon
from suites.robustness.text import is_alpha_word, is_stopword, match_case

WORD_ATTACK = "word"


def max_changes(share: float, n_words: int) -> int:
    """The most words an attack may change: share x words, at least one."""
    return max(1, int(share * n_words + 1e-9))


@dataclass
class WordExampleAttack:
    lexicon: Lexicon
    config: WordAttackConfig
    similarity: SentenceSimilarity

    def attackable(self, doc: Document) -> list[int]:
        return [i for i, span in enumerate(doc.spans)
                if is_alpha_word(span.text) and not is_stopword(span.text) and self.lexicon.synonyms(span.text)]

    def propose(self, doc: Document, index: int) -> list[str]:
        original = doc.spans[index].text
        return [match_case(original, s) for s in self.lexicon.synonyms(original)[:self.config.max_candidates]]

    def constrain(self, proposals: list[Proposal], doc: Document) -> list[Proposal]:
        sims = self.similarity([p.text for p in proposals])
        return [Proposal(p.index, p.word, p.text, s) for p, s in zip(proposals, sims)
                if s >= self.config.similarity_threshold]


@dataclass
class WordAttack:
    lexicon: Lexicon
    config: WordAttackConfig
    encoder: Any                                 # adapter with `embed` (metered per example)
    name: str = WORD_ATTACK

    @property
    def budget(self) -> int:
        return self.config.query_budget

    def max_changes(self, n_words: int) -> int:
        return max_changes(self.config.max_change_share, n_words)

    def for_example(self, example_id: str, text: str) -> WordExampleAttack:
        return WordExampleAttack(self.lexicon, self.config,
                                 SentenceSimilarity(self.encoder, text, CachePolicy.MEMORY))
