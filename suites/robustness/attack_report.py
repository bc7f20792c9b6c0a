"""Metrics, per-example outcomes and shown examples of the attack part (see attack_part.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from audit.results import UNIT_PROPORTION, Condition, Example, Metric, Outcomes, Span, SuiteResult
from audit.run.suite import Context
from suites.robustness.attacks.run import AttackRecord
from suites.robustness.data import Examples
from suites.robustness.metrics import (ATTACK_ACCURACY, ATTACK_ACCURACY_UNDER_ATTACK, ATTACK_KEY, ATTACK_MODEL_QUERIES,
                                       ATTACK_QUERIES, ATTACK_SIMILARITY, ATTACK_SUCCESS_RATE, ATTACK_VALID_SHARE,
                                       ATTACK_VALID_SUCCESS_RATE, ATTACK_WORDS_CHANGED, AttackOutcomes, accuracy,
                                       mean)
from suites.robustness.natural import SUITE_KEY

UNIT_QUERIES = "queries"
UNIT_COSINE = "cosine"


def outcomes_of(records: list[AttackRecord]) -> AttackOutcomes:
    return AttackOutcomes(clean_correct=np.array([r.attacked for r in records], dtype=bool),
                          succeeded=np.array([r.succeeded for r in records], dtype=bool),
                          valid=np.array([r.succeeded and r.validity is not None and r.validity.valid
                                          for r in records], dtype=bool))


def combined_outcomes(by_attack: dict[str, list[AttackRecord]]) -> AttackOutcomes:
    """Per example over every attack: broken when any attack flipped it (validly, for `valid`)."""
    parts = [outcomes_of(records) for records in by_attack.values()]
    return AttackOutcomes(clean_correct=parts[0].clean_correct,
                          succeeded=np.logical_or.reduce([p.succeeded for p in parts]),
                          valid=np.logical_or.reduce([p.valid for p in parts]))


def report_combined(by_attack: dict[str, list[AttackRecord]], subset: Examples, result: SuiteResult) -> None:
    """Overall metrics (no group) over the attacks together, the strongest per example: the headline
    numbers and the evidence the compliance report maps."""
    if not by_attack:
        return
    out = combined_outcomes(by_attack)
    names = " or ".join(by_attack)
    ids = list(subset.ids)
    under = accuracy(out.correct_under_attack)
    result.metrics.append(Metric.from_estimate(
        ATTACK_ACCURACY_UNDER_ATTACK, under, condition=Condition.UNDER_ATTACK, unit=UNIT_PROPORTION,
        higher_is_better=True, description=f"correct and not flipped by any attack ({names})"))
    result.outcomes.append(Outcomes(metric=ATTACK_ACCURACY_UNDER_ATTACK, condition=Condition.UNDER_ATTACK,
                                    example_ids=ids, values=[float(v) for v in out.correct_under_attack]))
    for name, estimate, description in (
            (ATTACK_SUCCESS_RATE, out.success_rate(), f"correctly classified examples flipped by {names}"),
            (ATTACK_VALID_SUCCESS_RATE, out.valid_success_rate(),
             f"correctly classified examples validly flipped (stricter checks) by {names}")):
        if estimate is not None:
            result.metrics.append(Metric.from_estimate(name, estimate, condition=Condition.UNDER_ATTACK,
                                                       unit=UNIT_PROPORTION, higher_is_better=False,
                                                       description=description))
    result.metrics.append(Metric.from_estimate(ATTACK_ACCURACY, accuracy(out.clean_correct), unit=UNIT_PROPORTION,
                                               higher_is_better=True, description="clean accuracy on the attacked "
                                                                                  "examples"))


def report_attack(ctx: Context, attack: Any, records: list[AttackRecord], subset: Examples,
                  result: SuiteResult) -> tuple[list[Any], dict[str, Any]]:
    group = {ATTACK_KEY: attack.name}
    out = outcomes_of(records)
    attacked = [r for r in records if r.attacked]
    succeeded = [r for r in records if r.succeeded]

    def add(name: str, estimate: Any, condition: Condition, unit: str | None, description: str,
            higher_is_better: bool | None = None) -> Metric | None:
        if estimate is None:
            return None
        metric = Metric.from_estimate(name, estimate, group=group, condition=condition, unit=unit,
                                      higher_is_better=higher_is_better, description=description)
        result.metrics.append(metric)
        return metric

    seed = ctx.sub_seed(SUITE_KEY, "attack", attack.name)
    clean = add(ATTACK_ACCURACY, accuracy(out.clean_correct), Condition.ORIGINAL, UNIT_PROPORTION,
                "clean accuracy on the attacked examples", True)
    under = add(ATTACK_ACCURACY_UNDER_ATTACK, accuracy(out.correct_under_attack), Condition.UNDER_ATTACK,
                UNIT_PROPORTION, f"still correct after the {attack.name} attack (budget {attack.budget} queries)", True)
    success = add(ATTACK_SUCCESS_RATE, out.success_rate(), Condition.UNDER_ATTACK, UNIT_PROPORTION,
                  "flipped / correctly classified examples, under the configured constraints", False)
    valid = add(ATTACK_VALID_SUCCESS_RATE, out.valid_success_rate(), Condition.UNDER_ATTACK, UNIT_PROPORTION,
                "valid flips (stricter checks) / correctly classified examples", False)
    add(ATTACK_VALID_SHARE, out.valid_share(), Condition.UNDER_ATTACK, UNIT_PROPORTION,
        "share of the successful adversarial examples that pass the stricter checks")
    queries = add(ATTACK_QUERIES, mean([r.queries["requests"] for r in attacked], seed) if attacked else None,
                  Condition.UNDER_ATTACK, UNIT_QUERIES, "classifier requests per attacked example (what the budget "
                                                       "counts, the original included)")
    add(ATTACK_MODEL_QUERIES, mean([r.queries["model_queries"] for r in attacked], seed) if attacked else None,
        Condition.UNDER_ATTACK, UNIT_QUERIES, "requests the model computed (not answered by the result cache)")
    words = add(ATTACK_WORDS_CHANGED, mean([r.words_changed for r in succeeded], seed) if succeeded else None,
                Condition.UNDER_ATTACK, UNIT_PROPORTION, "changed words / words, successful examples")
    similarity = add(ATTACK_SIMILARITY, mean([r.similarity for r in succeeded], seed) if succeeded else None,
                     Condition.UNDER_ATTACK, UNIT_COSINE,
                     "sentence-embedding cosine, adversarial vs original, successful examples")
    ids = subset.ids
    result.outcomes.append(Outcomes(metric=ATTACK_ACCURACY_UNDER_ATTACK, group=group, condition=Condition.UNDER_ATTACK,
                                    example_ids=list(ids), values=[float(v) for v in out.correct_under_attack]))
    result.outcomes.append(Outcomes(metric=ATTACK_ACCURACY, group=group, condition=Condition.ORIGINAL,
                                    example_ids=list(ids), values=[float(v) for v in out.clean_correct]))
    if attacked:
        result.outcomes.append(Outcomes(metric=ATTACK_SUCCESS_RATE, group=group, condition=Condition.UNDER_ATTACK,
                                        example_ids=[r.example_id for r in attacked],
                                        values=[float(r.succeeded) for r in attacked]))

    def fmt(metric: Metric | None, digits: int = 3) -> Any:
        return None if metric is None else round(metric.value, digits)

    totals = Counter()
    for r in attacked:
        totals.update({k: v for k, v in r.queries.items() if k != "budget" and v is not None})
    row = [attack.name, f"{len(attacked)} / {len(records)}", fmt(success), fmt(valid),
           f"{fmt(clean)} → {fmt(under)}", fmt(queries, 1), f"{totals['model_queries']} / {totals['cache_hits']}",
           fmt(words), fmt(similarity)]
    info = {"examples": len(records), "attacked": len(attacked), "succeeded": len(succeeded),
            "valid": int(out.valid.sum()), "stop_reasons": dict(Counter(r.stop_reason for r in records)),
            "requests": totals["requests"], "model_queries": totals["model_queries"],
            "cache_hits": totals["cache_hits"], "encoder_requests": sum(r.encoder_requests for r in records),
            "validity_checks": dict(Counter(k for r in succeeded if r.validity
                                            for k, v in r.validity.as_dict().items() if v is False))}
    return row, info


def adversarial_examples(records: list[AttackRecord], label_names: list[str], limit: int) -> list[Example]:
    """Successful adversarial examples, changed words highlighted: half valid ones, half ones that fail a
    stricter check (tagged with the check), in attack order."""
    order = {name: i for i, name in enumerate(dict.fromkeys(r.attack for r in records))}
    successes = sorted((r for r in records if r.succeeded), key=lambda r: order[r.attack])
    valid = [r for r in successes if r.validity is not None and r.validity.valid]
    invalid = [r for r in successes if not (r.validity is not None and r.validity.valid)]
    take_valid = max(limit - len(invalid), (limit + 1) // 2)
    chosen = valid[:take_valid] + invalid[:limit - min(take_valid, len(valid))]
    out = []
    for r in chosen:
        probs = r.adversarial_probs
        out.append(Example(
            id=f"{r.attack}:{r.example_id}", text=r.adversarial,
            spans=[Span(start=c.start, end=c.end, label=f"{c.old} → {c.new}") for c in r.changes],
            fields={"original": r.original, "label": label_names[r.label],
                    "prediction": f"{label_names[r.label]} {r.original_probs[r.label]:.2f} → "
                                  f"{label_names[int(probs.argmax())]} {probs.max():.2f}",
                    "queries": r.queries["requests"], "similarity": round(r.similarity or 0.0, 3),
                    "words changed": f"{len(r.changes)} of {r.n_words}",
                    "valid": r.validity.valid if r.validity else None},
            tags=[f"{r.attack} attack"] + _validity_tags(r)))
    return out


def _validity_tags(record: AttackRecord) -> list[str]:
    if record.validity is None:
        return []
    if record.validity.valid:
        return ["valid"]
    return [f"fails: {check}" for check, passed in record.validity.as_dict().items() if passed is False
            and check != "valid"]
