"""The greedy search both attacks share (TextAttack's GreedyWordSwapWIR, "delete" ranking).

1. Rank the attackable words by leave-one-out importance: the drop of the true-class probability
   when the word is deleted, all deletions scored in one batch.
2. In that order, propose replacements for the word; keep those that pass the attack's
   constraints; score them all in one batch. If any flips the prediction, stop (success) with the
   most similar one; else keep the replacement that lowers the true-class probability most
   (if it does) and go on to the next word.
3. Stop at success, at the query budget, at the word-change limit, or when the words run out.

`BudgetedScorer` is the only way to the classifier here: each distinct text is sent once (a memo per
example), each call is one batch, and a call is trimmed so the example never exceeds its budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from audit.models.adapters.base import CachePolicy
from audit.models.adapters.metering import QueryCount
from suites.robustness.text import Rebuilt, WordSpan, replace_words, word_spans

SUCCEEDED, FAILED, SKIPPED = "succeeded", "failed", "skipped"
STOP_SUCCESS, STOP_BUDGET, STOP_WORD_LIMIT, STOP_EXHAUSTED, STOP_MISCLASSIFIED = (
    "success", "budget", "word_limit", "no_more_words", "misclassified")


@dataclass(frozen=True)
class Document:
    """The original text, its words, and the word replacements made so far."""

    original: str
    spans: tuple[WordSpan, ...]
    replacements: tuple[tuple[int, str], ...] = ()

    @classmethod
    def of(cls, text: str) -> "Document":
        return cls(text, tuple(word_spans(text)))

    @property
    def n_words(self) -> int:
        return len(self.spans)

    def word(self, index: int) -> str:
        return dict(self.replacements).get(index, self.spans[index].text)

    def with_word(self, index: int, word: str) -> "Document":
        changed = dict(self.replacements)
        changed[index] = word
        return replace(self, replacements=tuple(sorted(changed.items())))

    def render(self, deleted: int | None = None) -> Rebuilt:
        changed = dict(self.replacements)
        if deleted is not None:
            changed[deleted] = ""
        return replace_words(self.original, list(self.spans), changed)

    @property
    def text(self) -> str:
        return self.render().text

    def without(self, index: int) -> str:
        return self.render(deleted=index).text

    @property
    def changed(self) -> list[int]:
        return [i for i, w in self.replacements if w != self.spans[i].text]


@dataclass(frozen=True)
class Proposal:
    index: int
    word: str
    text: str
    similarity: float | None = None


class ExampleAttack(Protocol):
    """One attack bound to one example (its similarity memo, its random draws)."""

    def attackable(self, doc: Document) -> list[int]: ...

    def propose(self, doc: Document, index: int) -> list[str]: ...

    def constrain(self, proposals: list[Proposal], doc: Document) -> list[Proposal]: ...


@dataclass
class BudgetedScorer:
    """Class probabilities through one metered adapter scope; one batch per call, memo, budget."""

    adapter: Any                                # the metered adapter (QueryMeter.adapter)
    count: QueryCount                           # the open scope of this example
    policy: CachePolicy = CachePolicy.MEMORY
    memo: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def exhausted(self) -> bool:
        return self.count.remaining == 0

    def score(self, texts: list[str]) -> dict[str, np.ndarray]:
        new = [t for t in dict.fromkeys(texts) if t not in self.memo]
        room = self.count.remaining
        if room is not None:
            new = new[:room]
        if new:
            probs = np.asarray(self.adapter.classify(new, cache=self.policy), dtype=np.float64)
            self.memo.update(zip(new, probs))
        return {t: self.memo[t] for t in texts if t in self.memo}


@dataclass
class SearchResult:
    status: str
    stop_reason: str
    document: Document
    probs: np.ndarray
    similarity: float | None = None
    order: list[int] = field(default_factory=list)
    importance: dict[int, float] = field(default_factory=dict)


def rank_words(doc: Document, indices: list[int], label: int, base_prob: float,
               scorer: BudgetedScorer) -> tuple[list[int], dict[int, float]]:
    """Leave-one-out importance, one batch; words the budget left unscored come last, in text order."""
    deleted = {i: doc.without(i) for i in indices}
    scores = scorer.score(list(deleted.values()))
    drop = {i: float(base_prob - scores[t][label]) for i, t in deleted.items() if t in scores}
    ranked = sorted(drop, key=lambda i: (-drop[i], i))
    return ranked + [i for i in indices if i not in drop], drop


def _best_flip(flips: list[tuple[Proposal, np.ndarray]], label: int) -> tuple[Proposal, np.ndarray]:
    """TextFooler's choice: the most similar flipping candidate; ties (or no similarity): the one
    furthest from the true class."""
    return max(flips, key=lambda pair: (pair[0].similarity if pair[0].similarity is not None else 0.0,
                                        -pair[1][label]))


def greedy_search(doc: Document, label: int, base_probs: np.ndarray, attack: ExampleAttack,
                  scorer: BudgetedScorer, max_changes: int) -> SearchResult:
    order, importance = rank_words(doc, attack.attackable(doc), label, float(base_probs[label]), scorer)
    current, current_probs, current_similarity = doc, base_probs, None

    def failed(reason: str) -> SearchResult:
        return SearchResult(FAILED, reason, current, current_probs, current_similarity, order, importance)

    for index in order:
        if scorer.exhausted:
            return failed(STOP_BUDGET)
        if len(current.changed) >= max_changes:
            return failed(STOP_WORD_LIMIT)
        proposals: dict[str, Proposal] = {}
        for word in attack.propose(current, index):
            text = current.with_word(index, word).text
            if text != current.text and text not in proposals:
                proposals[text] = Proposal(index, word, text)
        kept = attack.constrain(list(proposals.values()), current) if proposals else []
        if not kept:
            continue
        scores = scorer.score([p.text for p in kept])
        scored = [(p, scores[p.text]) for p in kept if p.text in scores]
        if not scored:
            return failed(STOP_BUDGET)
        flips = [(p, probs) for p, probs in scored if int(np.argmax(probs)) != label]
        if flips:
            best, probs = _best_flip(flips, label)
            return SearchResult(SUCCEEDED, STOP_SUCCESS, current.with_word(index, best.word), probs,
                                best.similarity, order, importance)
        best, probs = min(scored, key=lambda pair: pair[1][label])
        if probs[label] < current_probs[label]:
            current, current_probs, current_similarity = current.with_word(index, best.word), probs, best.similarity
    return failed(STOP_EXHAUSTED)
