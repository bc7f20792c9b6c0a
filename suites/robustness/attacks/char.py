"""Character-level attack, DeepWordBug-style (Gao et al., 2018; TextAttack's recipe).

Words are ranked by leave-one-out importance (TextAttack's DeepWordBug ranks by replacing the word
with an unknown token; deletion is used here so both attacks share one ranking batch and its
cache). Each attackable word gets four candidate edits of one character: swap two adjacent letters,
substitute a neighbouring key, delete a letter, insert a neighbouring key (positions drawn from the
example's seeded RNG). Constraints: stopwords untouched, the share of changed words, and the total
Levenshtein distance (TextAttack: 30).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from suites.robustness.attacks.search import Document, Proposal
from suites.robustness.attacks.word import max_changes
from suites.robustness.config import CharAttackConfig
from suites.robustness.perturbations.typos import delete_edit, insert_edit, substitute_edit, transpose_edit
from suites.robustness.text import edit_distance, is_alpha_word, is_stopword

CHAR_ATTACK = "char"
EDITS = (transpose_edit, substitute_edit, delete_edit, insert_edit)
MIN_LETTERS = 2

RngFactory = Callable[[str, int], np.random.Generator]   # (example id, word index) -> generator


@dataclass
class CharExampleAttack:
    config: CharAttackConfig
    example_id: str
    rng_for: RngFactory

    def attackable(self, doc: Document) -> list[int]:
        return [i for i, span in enumerate(doc.spans)
                if is_alpha_word(span.text) and len(span.text) >= MIN_LETTERS and not is_stopword(span.text)]

    def propose(self, doc: Document, index: int) -> list[str]:
        word = doc.spans[index].text
        draws = self.rng_for(self.example_id, index).random((len(EDITS), 2))
        out = []
        for edit, (u_pos, u_key) in zip(EDITS, draws):
            new = edit(word, u_pos, u_key)
            if new != word and new not in out:
                out.append(new)
        return out

    def constrain(self, proposals: list[Proposal], doc: Document) -> list[Proposal]:
        spent = sum(edit_distance(doc.spans[i].text, doc.word(i)) for i in doc.changed)
        return [p for p in proposals
                if spent - edit_distance(doc.spans[p.index].text, doc.word(p.index))
                + edit_distance(doc.spans[p.index].text, p.word) <= self.config.max_edit_distance]


@dataclass
class CharAttack:
    config: CharAttackConfig
    rng_for: RngFactory
    name: str = CHAR_ATTACK

    @property
    def budget(self) -> int:
        return self.config.query_budget

    def max_changes(self, n_words: int) -> int:
        return max_changes(self.config.max_change_share, n_words)

    def for_example(self, example_id: str, text: str) -> CharExampleAttack:
        return CharExampleAttack(self.config, example_id, self.rng_for)
