"""Membership-inference scores from per-example losses (higher score = more likely a member).

- loss attack (Yeom et al. 2018): score = −loss under the target model;
- calibrated attack (Watson et al. 2022): score = −(target loss − reference loss), where the
  reference model never saw the example: an example that is merely easy scores low on both, so
  what is left is what training on it changed.
Losses come from the adapter's batched `losses` capability (cross-entropy for classifiers, mean
token NLL for causal LMs), cached like every other model call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.models.adapters.base import LossRequest, ModelAdapter
from suites.privacy.data import Texts

LOSS_ATTACK = "loss"
CALIBRATED_ATTACK = "calibrated"


def example_losses(adapter: ModelAdapter, rows: Texts) -> np.ndarray:
    """Per-example losses (nats) of `rows` under `adapter`, in row order."""
    labels = [None] * len(rows) if rows.labels is None else [int(v) for v in rows.labels]
    return np.asarray(adapter.losses([LossRequest(text=t, label=y) for t, y in zip(rows.texts, labels)]), float)


@dataclass(frozen=True)
class AttackScores:
    """Scores of one attack on members and non-members of one model."""

    attack: str
    members: np.ndarray
    non_members: np.ndarray

    @property
    def scores(self) -> np.ndarray:
        return np.concatenate([self.members, self.non_members])

    @property
    def is_member(self) -> np.ndarray:
        return np.concatenate([np.ones(self.members.size, bool), np.zeros(self.non_members.size, bool)])


def loss_attack(member_losses: np.ndarray, non_member_losses: np.ndarray) -> AttackScores:
    return AttackScores(LOSS_ATTACK, -np.asarray(member_losses, float), -np.asarray(non_member_losses, float))


def calibrated_attack(member_losses: np.ndarray, non_member_losses: np.ndarray,
                      reference_members: np.ndarray, reference_non_members: np.ndarray) -> AttackScores:
    return AttackScores(CALIBRATED_ATTACK,
                        -(np.asarray(member_losses, float) - np.asarray(reference_members, float)),
                        -(np.asarray(non_member_losses, float) - np.asarray(reference_non_members, float)))
