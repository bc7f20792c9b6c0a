"""Run an attack over examples, one metered scope (and budget) per example, then check the results:
similarity for attacks that do not constrain it, the stricter validity checks, and a re-verification
of every adversarial example in one fresh batch (result cache off) so a reported success is a real
flip of the model's prediction.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

import numpy as np

from audit.models.adapters.base import CachePolicy
from audit.models.adapters.metering import QueryMeter
from suites.robustness.attacks.search import (FAILED, SKIPPED, STOP_MISCLASSIFIED, SUCCEEDED, BudgetedScorer,
                                              Document, ExampleAttack, greedy_search)
from suites.robustness.attacks.similarity import cosine_rows
from suites.robustness.attacks.validity import Validity
from suites.robustness.data import Examples

STOP_UNVERIFIED = "unverified"


class Attack(Protocol):
    name: str

    @property
    def budget(self) -> int: ...

    def max_changes(self, n_words: int) -> int: ...

    def for_example(self, example_id: str, text: str) -> ExampleAttack: ...


@dataclass(frozen=True)
class Change:
    index: int
    old: str
    new: str
    start: int            # span of the new word in the adversarial text
    end: int


@dataclass
class AttackRecord:
    attack: str
    example_id: str
    label: int
    original: str
    original_probs: np.ndarray
    status: str
    stop_reason: str
    n_words: int
    queries: dict[str, int | None]              # requests, model_queries, cache_hits, duplicates, budget
    encoder_requests: int = 0
    adversarial: str | None = None
    adversarial_probs: np.ndarray | None = None
    changes: list[Change] = field(default_factory=list)
    similarity: float | None = None
    validity: Validity | None = None
    verified: bool | None = None

    @property
    def attacked(self) -> bool:
        return self.status != SKIPPED

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED

    @property
    def words_changed(self) -> float:
        return len(self.changes) / self.n_words if self.n_words else 0.0


def _changes(doc: Document) -> tuple[str, list[Change]]:
    rebuilt = doc.render()
    changes = [Change(i, doc.spans[i].text, doc.word(i), *rebuilt.spans[i]) for i in doc.changed]
    return rebuilt.text, changes


def attack_example(attack: Attack, example_id: str, text: str, label: int, meter: QueryMeter,
                   encoder_meter: QueryMeter | None) -> AttackRecord:
    """Attack one example inside its own metered scope; the budget covers every classifier request."""
    key = f"{attack.name}:{example_id}"
    encoder_scope = encoder_meter.scope(key) if encoder_meter is not None else contextlib.nullcontext(None)
    with meter.scope(key, budget=attack.budget) as count, encoder_scope as encoder_count:
        scorer = BudgetedScorer(meter.adapter, count)
        base = scorer.score([text])[text]
        doc = Document.of(text)
        record = AttackRecord(attack.name, example_id, label, text, base, SKIPPED, STOP_MISCLASSIFIED,
                              doc.n_words, {})
        if int(np.argmax(base)) == label:
            result = greedy_search(doc, label, base, attack.for_example(example_id, text), scorer,
                                   attack.max_changes(doc.n_words))
            record.status, record.stop_reason = result.status, result.stop_reason
            if result.status == SUCCEEDED:
                record.adversarial, record.changes = _changes(result.document)
                record.adversarial_probs = result.probs
                record.similarity = result.similarity
    record.queries = count.as_dict()
    record.encoder_requests = encoder_count.requests if encoder_count is not None else 0
    return record


def run_attack(attack: Attack, examples: Examples, meter: QueryMeter, encoder_meter: QueryMeter | None,
               progress: Callable[..., Iterable] | None = None) -> list[AttackRecord]:
    rows = list(zip(examples.ids, examples.texts, examples.labels))
    if progress is not None:
        rows = progress(rows, total=len(rows), desc=f"robustness: {attack.name} attack")
    return [attack_example(attack, example_id, text, int(label), meter, encoder_meter)
            for example_id, text, label in rows]


def fill_similarity(records: list[AttackRecord], encoder: Any) -> None:
    """Similarity of successful examples that have none yet (char attack), in one embed batch."""
    todo = [r for r in records if r.succeeded and r.similarity is None]
    if not todo:
        return
    texts = [r.original for r in todo] + [r.adversarial for r in todo]
    vectors = np.asarray(encoder.embed(texts, cache=CachePolicy.MEMORY), dtype=np.float64)
    sims = cosine_rows(vectors[:len(todo)], vectors[len(todo):])
    for record, sim in zip(todo, sims):
        record.similarity = float(sim)


def verify(records: list[AttackRecord], adapter: Any) -> int:
    """Re-score every adversarial example in one batch with the result cache off; a success that no
    longer flips the prediction becomes a failure (stop reason 'unverified'). Returns the count."""
    todo = [r for r in records if r.succeeded]
    if not todo:
        return 0
    probs = np.asarray(adapter.classify([r.adversarial for r in todo], cache=CachePolicy.OFF))
    unverified = 0
    for record, row in zip(todo, probs):
        record.verified = int(np.argmax(row)) != record.label
        if not record.verified:
            unverified += 1
            record.status, record.stop_reason = FAILED, STOP_UNVERIFIED
    return unverified
