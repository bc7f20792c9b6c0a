"""Subjects: the explained inputs as token units plus the output being explained."""

from __future__ import annotations

from dataclasses import dataclass, replace

from audit.models.adapters.base import ModelAdapter
from suites.explainability.examples import RawExample
from suites.explainability.tokens import TokenUnits


@dataclass(frozen=True)
class Subject:
    """One explanation to make: f(input) where f is p(target label) or log p(continuation | prompt)."""

    id: str
    source_id: str                 # the original example's id (a stability variant shares its seeds)
    units: TokenUnits
    target: int                    # label index (classifier) / choice index (causal LM)
    target_name: str
    continuation: str | None = None
    editable: tuple[int, int] | None = None
    gold: int | None = None
    variant_of: str | None = None  # set on stability variants
    choices: tuple[str, ...] = ()  # causal LM: every choice (f normalises the target over them)

    @property
    def text(self) -> str:
        return self.units.covered_text


def encode_units(adapter: ModelAdapter, texts: list[str]) -> list[TokenUnits]:
    """One adapter call: ids, offsets and special-token flags of every text."""
    return [TokenUnits.from_encoding(t, e) for t, e in zip(texts, adapter.encode(texts))]


def make_variant(subject: Subject, units: TokenUnits, suffix: str) -> Subject:
    return replace(subject, id=f"{subject.id}{suffix}", units=units, variant_of=subject.id, editable=None)


def raw_gold(raw: RawExample, labels: list[str]) -> int | None:
    """The gold label of a dataset row as a model label index (names, case-insensitive names or indices)."""
    if raw.gold is None:
        return None
    if raw.choices:
        return int(raw.gold)  # type: ignore[arg-type]
    text = str(raw.gold)
    folded = {name.casefold(): i for i, name in enumerate(labels)}
    if text.casefold() in folded:
        return folded[text.casefold()]
    if text.strip().lstrip("-").isdigit() and 0 <= int(text) < len(labels):
        return int(text)
    return None
