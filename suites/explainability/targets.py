"""Which output each example explains: the predicted class / choice, the gold one, or a named one.

The unmasked inputs are scored here (one batched call) and remembered by the scorer, so every
method later finds f(x) already computed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from audit.models.adapters.base import CachePolicy, IdsInput, ModelAdapter, ModelKind
from audit.errors import ConfigError, DataError
from suites.explainability.config import TARGET_GOLD, TARGET_PREDICTED, TargetLabel
from suites.explainability.examples import RawExample
from suites.explainability.scoring import Scorer
from suites.explainability.subjects import Subject, encode_units, raw_gold
from suites.explainability.tokens import TokenUnits

TARGET_KEY = "explainability.target"


def _check_units(raws: Sequence[RawExample], units: Sequence[TokenUnits]) -> None:
    for raw, u in zip(raws, units):
        if len(u) == 0:
            raise DataError(f"explainability.examples: example {raw.id!r}: the text has no tokens to explain")


def _pick(target: str | TargetLabel, predicted: int, gold: int | None, names: Sequence[str], example_id: str) -> int:
    if target == TARGET_PREDICTED:
        return predicted
    if target == TARGET_GOLD:
        if gold is None:
            raise DataError(f"{TARGET_KEY}: 'gold' needs a gold label, and example {example_id!r} has none "
                            "(set explainability.examples.dataset.label_column)")
        return gold
    assert isinstance(target, TargetLabel)
    folded = [n.strip().casefold() for n in names]
    wanted = target.label.strip().casefold()
    if wanted not in folded:
        raise ConfigError(f"{TARGET_KEY}.label: unknown label {target.label!r}; "
                          f"the model's labels / choices are {[n.strip() for n in names]}")
    return folded.index(wanted)


def resolve_subjects(adapter: ModelAdapter, scorer: Scorer, raws: Sequence[RawExample],
                     target: str | TargetLabel, field_only: bool = True) -> list[tuple[Subject, int]]:
    """(subject, predicted index) per example; the unmasked inputs' results are primed in the scorer.
    With `field_only`, a prompt's features are the tokens of its data field (RawExample.editable)."""
    units = encode_units(adapter, [r.text for r in raws])
    if field_only:
        units = [u.restrict(r.editable) if r.choices and r.editable else u for r, u in zip(raws, units)]
    _check_units(raws, units)
    if adapter.kind == ModelKind.CAUSAL_LM:
        return _causal_subjects(adapter, scorer, raws, units, target)
    return _classifier_subjects(adapter, scorer, raws, units, target)


def _classifier_subjects(adapter, scorer, raws, units, target):
    labels = list(adapter.labels)
    probs = np.asarray(adapter.classify_ids([IdsInput(u.input_ids) for u in units], cache=CachePolicy.MEMORY),
                       dtype=np.float64)
    out = []
    for raw, u, row in zip(raws, units, probs):
        scorer.prime(u.input_ids, row)
        predicted = int(np.argmax(row))
        gold = raw_gold(raw, labels)
        if raw.gold is not None and gold is None:
            raise DataError(f"explainability.examples: example {raw.id!r}: label {raw.gold!r} is not one of "
                            f"the model's labels {labels}")
        index = _pick(target, predicted, gold, labels, raw.id)
        out.append((Subject(id=raw.id, source_id=raw.id, units=u, target=index, target_name=labels[index],
                            editable=raw.editable, gold=gold), predicted))
    return out


def _causal_subjects(adapter, scorer, raws, units, target):
    requests = [(u.covered_text, choice) for raw, u in zip(raws, units) for choice in raw.choices]
    results = adapter.loglikelihood(requests, cache=CachePolicy.MEMORY)
    out, k = [], 0
    for raw, u in zip(raws, units):
        scores = np.array([r.logprob for r in results[k:k + len(raw.choices)]])
        scorer.prime((u.covered_text, tuple(raw.choices)), scores)
        k += len(raw.choices)
        predicted = int(np.argmax(scores))
        index = _pick(target, predicted, raw_gold(raw, []), raw.choices, raw.id)
        out.append((Subject(id=raw.id, source_id=raw.id, units=u, target=index,
                            target_name=raw.choices[index].strip(), continuation=raw.choices[index],
                            editable=raw.editable, gold=raw_gold(raw, []), choices=tuple(raw.choices)), predicted))
    return out
