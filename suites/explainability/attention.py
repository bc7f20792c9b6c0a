"""Attention maps and attention rollout (Abnar & Zuidema 2020) from the adapter's `attentions`.

Rollout: per layer, average the heads, add the residual path (0.5·A + 0.5·I), renormalise the
rows, and multiply the layers from the bottom up. A token's score is the rollout weight from
the position that makes the prediction: the first token ([CLS]) for a classifier, the last
prompt token for a causal LM. Scores are non-negative: attention says how much, not which way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from audit.models.adapters.base import AttentionResult, ModelAdapter, ModelKind
from suites.explainability.subjects import Subject


def rollout(attentions: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """(layers, heads, L, L) attention weights -> (L, L) rolled-out attention."""
    if attentions.ndim != 4 or attentions.shape[-1] != attentions.shape[-2]:
        raise ValueError(f"expected (layers, heads, L, L) attentions, got shape {attentions.shape}")
    size = attentions.shape[-1]
    eye = np.eye(size)
    out = eye
    for layer in attentions.astype(np.float64):
        mixed = (1.0 - residual) * layer.mean(axis=0) + residual * eye
        mixed = mixed / mixed.sum(axis=-1, keepdims=True)
        out = mixed @ out
    return out


def query_position(kind: ModelKind, length: int) -> int:
    """Where the prediction is read: [CLS] (position 0) for classifiers, the last token for causal LMs."""
    return length - 1 if kind == ModelKind.CAUSAL_LM else 0


@dataclass(frozen=True)
class AttentionRun:
    scores: list[np.ndarray]
    maps: list[AttentionResult]
    rollouts: list[np.ndarray]


def attention_scores(adapter: ModelAdapter, subjects: Sequence[Subject]) -> AttentionRun:
    """One batched attentions call; rollout weights of each subject's features."""
    maps = adapter.attentions([s.units.text for s in subjects])
    scores, rollouts = [], []
    for subject, result in zip(subjects, maps):
        length = len(subject.units.input_ids)
        if result.attentions.shape[-1] != length:
            raise RuntimeError(f"attentions of {subject.id!r} cover {result.attentions.shape[-1]} tokens, "
                               f"the encoding {length}")
        rolled = rollout(result.attentions)
        rollouts.append(rolled)
        scores.append(rolled[query_position(adapter.kind, length), list(subject.units.positions)])
    return AttentionRun(scores, list(maps), rollouts)
