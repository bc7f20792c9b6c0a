"""Exposure of an inserted secret, after Carlini et al. 2019, "The Secret Sharer" (USENIX Security).

A canary secret s[r] drawn uniformly from a space R of candidates is inserted in the training data.
exposure = log2|R| − log2 rank(s[r]), where rank is the canary's position (1 = lowest loss) among
all |R| candidates under the model. 0 bits: the model prefers the canary no more than a random
candidate; log2|R| bits: it ranks the canary first, i.e. the secret is extractable by enumeration.

|R| is usually too large to enumerate (10^9 for a 9-digit number), so the rank is estimated from a
uniform sample of N other candidates: rank ≈ 1 + (|R| − 1) · #{candidates with loss < canary} / N
(the canary holds one place; the share of the other |R| − 1 secrets that beat it is estimated from
the sample). This is the paper's sampling estimator (exposure ≈ −log2 P_t[loss(t) ≤ loss(canary)])
written on the rank scale, so that a canary beating every sampled candidate gets the finite maximum
log2|R| instead of ∞, one beaten by all gets 0, and enumerating all |R| − 1 others gives the exact
rank. Its resolution is about log2 N bits: above that, exposures are only "≥ what N samples show".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

SLOT = "{d}"
_SLOT_RE = re.compile(re.escape(SLOT))


@dataclass(frozen=True)
class Exposure:
    exposure: float  # bits, in [0, log2 space_size]
    rank: float  # estimated rank of the canary among the whole space (1 = lowest loss)
    space_size: int
    n_candidates: int
    n_better: int  # sampled candidates with a strictly lower loss than the canary


def exposure(canary_loss: float, candidate_losses: Sequence[float] | np.ndarray, space_size: int) -> Exposure:
    """Exposure (bits) of a canary from its loss and the losses of N uniformly sampled candidates.

    Ties with the canary are not counted as better (a tie cannot be told apart by enumeration
    either way; counting them would understate exposure when losses are quantised). Pass every
    other secret of the space as candidates (N = |R| − 1) and the rank is exact. The candidates
    should be sampled without the canary itself (a draw equal to it would tie and not count).
    """
    losses = np.asarray(candidate_losses, dtype=float)
    if losses.ndim != 1 or losses.size == 0:
        raise ValueError("exposure needs a non-empty 1-d array of candidate losses")
    if space_size < 1:
        raise ValueError(f"space_size must be ≥ 1, got {space_size}")
    if not (np.isfinite(losses).all() and math.isfinite(canary_loss)):
        raise ValueError("losses must be finite")
    better = int((losses < canary_loss).sum())
    rank = 1.0 + (space_size - 1) * better / losses.size
    value = max(0.0, math.log2(space_size) - math.log2(rank))  # max() only absorbs rounding
    return Exposure(exposure=value, rank=rank, space_size=space_size, n_candidates=int(losses.size),
                    n_better=better)


def _slots(fmt: str) -> int:
    slots = fmt.count(SLOT)
    if slots == 0:
        raise ValueError(f"format {fmt!r} has no {SLOT} slot")
    rest = _SLOT_RE.sub("", fmt)
    if "{" in rest or "}" in rest:
        raise ValueError(f"format {fmt!r}: only {SLOT} (one random digit) is a slot")
    return slots


def secret_space_size(fmt: str) -> int:
    """|R| of a secret format: 10 ** (number of {d} digit slots), e.g. "{d}{d}{d}-{d}{d}{d}{d}" → 10^7."""
    return 10 ** _slots(fmt)


def random_secret(fmt: str, rng: np.random.Generator) -> str:
    """A uniform draw from the format's space: each {d} becomes an independent random digit.

    Uniformity matters: exposure measures memorisation relative to a uniform prior over R.
    """
    digits = iter(rng.integers(0, 10, size=_slots(fmt)).tolist())
    return _SLOT_RE.sub(lambda _: str(next(digits)), fmt)
