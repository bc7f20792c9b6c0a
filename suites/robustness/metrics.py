"""Metric names and pure functions over per-example outcomes (no model, no I/O).

Proportions are fractions in [0, 1] with Wilson intervals; means use the percentile bootstrap;
a perturbation is compared with the clean inputs on the same examples by the exact McNemar test
(with Agresti-Min's interval for the paired difference).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from audit.results import Estimate
from audit.stats import PairedComparison, bootstrap_mean, mcnemar, wilson_proportion

PERTURB_ACCURACY = "perturb.accuracy"
PERTURB_CHANGE = "perturb.accuracy_change"
ATTACK_ACCURACY = "attack.accuracy"
ATTACK_SUCCESS_RATE = "attack.success_rate"
ATTACK_ACCURACY_UNDER_ATTACK = "attack.accuracy_under_attack"
ATTACK_VALID_SUCCESS_RATE = "attack.valid_success_rate"
ATTACK_VALID_SHARE = "attack.valid_share"
ATTACK_QUERIES = "attack.queries"
ATTACK_MODEL_QUERIES = "attack.model_queries"
ATTACK_WORDS_CHANGED = "attack.words_changed"
ATTACK_SIMILARITY = "attack.similarity"

PERTURBATION_KEY = "perturbation"
SEVERITY_KEY = "severity"
ATTACK_KEY = "attack"


def accuracy(correct: Sequence[bool] | np.ndarray) -> Estimate:
    """Share of correct predictions with its Wilson interval."""
    return wilson_proportion(np.asarray(correct, dtype=float))


def worst_case(clean: np.ndarray, perturbed: Mapping[str, np.ndarray]) -> np.ndarray:
    """Correct on the clean text and under every perturbation (HELM's worst case over variants)."""
    out = np.asarray(clean, dtype=bool).copy()
    for correct in perturbed.values():
        out &= np.asarray(correct, dtype=bool)
    return out


def paired_change(clean: np.ndarray, perturbed: np.ndarray) -> PairedComparison:
    """Accuracy under the perturbation minus clean accuracy, same examples (exact McNemar)."""
    return mcnemar(np.asarray(clean, dtype=bool), np.asarray(perturbed, dtype=bool))


def flips(clean: np.ndarray, perturbed: np.ndarray) -> tuple[int, int]:
    """(correct -> wrong, wrong -> correct) counts: the discordant pairs of the McNemar test."""
    a, b = np.asarray(clean, dtype=bool), np.asarray(perturbed, dtype=bool)
    return int((a & ~b).sum()), int((~a & b).sum())


def mean(values: Sequence[float], seed: int) -> Estimate:
    return bootstrap_mean(np.asarray(values, dtype=float), seed=seed)


@dataclass(frozen=True)
class AttackOutcomes:
    """Per-example outcomes of one attack over n examples (statuses: succeeded/failed/skipped)."""

    clean_correct: np.ndarray          # (n,) the model was right on the original
    succeeded: np.ndarray              # (n,) an adversarial example was found (and verified)
    valid: np.ndarray                  # (n,) ... and it passes the strict checks

    @property
    def attacked(self) -> np.ndarray:
        return self.clean_correct

    @property
    def correct_under_attack(self) -> np.ndarray:
        return self.clean_correct & ~self.succeeded

    def success_rate(self) -> Estimate | None:
        return accuracy(self.succeeded[self.attacked]) if self.attacked.any() else None

    def valid_success_rate(self) -> Estimate | None:
        return accuracy(self.valid[self.attacked]) if self.attacked.any() else None

    def valid_share(self) -> Estimate | None:
        return accuracy(self.valid[self.succeeded]) if self.succeeded.any() else None
