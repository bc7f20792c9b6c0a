"""The sentence-similarity constraint: cosine of mean-pooled sentence embeddings (all-MiniLM-L6-v2
by default, a real sentence-embedding model), adversarial vs original text.

Embeddings come from a second adapter (the encoder), one batch per attack step, each distinct
text once (memo), one-off texts kept in memory only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from audit.models.adapters.base import CachePolicy


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (n, d) arrays."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norms = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return (a * b).sum(axis=1) / norms


@dataclass
class SentenceSimilarity:
    """cos(embed(text), embed(original)) for one original, memoised per text."""

    encoder: Any                       # an adapter with `embed` (metered or not)
    original: str
    policy: CachePolicy = CachePolicy.MEMORY
    memo: dict[str, float] = field(default_factory=dict)
    _anchor: np.ndarray | None = None

    def __call__(self, texts: Sequence[str]) -> list[float]:
        new = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if self._anchor is None and self.original not in new:
            new.insert(0, self.original)
        if new:
            vectors = np.asarray(self.encoder.embed(new, cache=self.policy), dtype=np.float64)
            by_text = dict(zip(new, vectors))
            if self._anchor is None:
                self._anchor = by_text[self.original]
            sims = cosine_rows(vectors, np.repeat(self._anchor[None, :], len(new), axis=0))
            self.memo.update(zip(new, (float(s) for s in sims)))
        return [self.memo[t] for t in texts]
