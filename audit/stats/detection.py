"""Rates measured through an imperfect detector: its sensitivity/specificity, the Rogan–Gladen
corrected prevalence with a propagated CI, and rates over prompts with k correlated samples each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from audit.results import Estimate
from audit.stats.intervals import (DEFAULT_CONFIDENCE, clustered_wilson, design_effect, kish_cluster_size_n,
                                   wilson_interval, z_value)


@dataclass(frozen=True)
class DetectorAccuracy:
    """A detector's error rates on a labelled calibration set (Wilson CIs)."""

    sensitivity: Estimate        # flagged among the truly positive
    specificity: Estimate        # not flagged among the truly negative
    agreement: float             # share of all items where flag == label


def detector_accuracy(truth: Sequence[bool], flagged: Sequence[bool],
                      confidence: float = DEFAULT_CONFIDENCE) -> DetectorAccuracy:
    y, f = np.asarray(truth, bool), np.asarray(flagged, bool)
    if y.shape != f.shape or not y.any() or y.all():
        raise ValueError("detector_accuracy needs labels and flags of the same length, with both classes present")
    sens = wilson_interval(int((f & y).sum()), int(y.sum()), confidence)
    spec = wilson_interval(int((~f & ~y).sum()), int((~y).sum()), confidence)
    return DetectorAccuracy(sensitivity=sens, specificity=spec, agreement=float((f == y).mean()))


def effective_n(outcomes: Sequence[float] | np.ndarray, clusters: Sequence[str]) -> float:
    """n / design effect of a clustered 0/1 proportion (worst case (Σm)²/Σm² when deff is undefined)."""
    arr = np.asarray(outcomes, float)
    lookup: dict[str, int] = {}
    codes = np.array([lookup.setdefault(c, len(lookup)) for c in clusters], dtype=np.int64)
    deff = design_effect(arr, codes)
    return float(arr.size / deff) if np.isfinite(deff) else kish_cluster_size_n(np.bincount(codes))


def rogan_gladen(observed: float, n_eff: float, accuracy: DetectorAccuracy,
                 confidence: float = DEFAULT_CONFIDENCE) -> Estimate:
    """True prevalence from an observed flag rate: θ = (p + Sp − 1) / (Se + Sp − 1) (Rogan & Gladen 1978).

    The CI is the delta method with the three independent sources of error (Greenland 1996;
    Reiczigel, Földi & Ózsvári 2010): Var θ ≈ [Var p + θ² Var Se + (1 − θ)² Var Sp] / J², J = Se + Sp − 1,
    with Var p from the (design-effect adjusted) n_eff and Var Se, Var Sp binomial over the calibration
    set. θ and its bounds are clipped to [0, 1]. NaN when J ≤ 0 (the detector is no better than chance).
    """
    se, sp = accuracy.sensitivity, accuracy.specificity
    j = se.value + sp.value - 1.0
    n = int(round(n_eff))
    method = f"Rogan-Gladen, delta-method CI (Se {se.value:.3f}, n={se.n}; Sp {sp.value:.3f}, n={sp.n})"
    if j <= 0 or n_eff <= 0:
        return Estimate(value=float("nan"), n=n, ci_method=method + ": undefined, Se + Sp <= 1", confidence=confidence)
    theta = (observed + sp.value - 1.0) / j
    clipped = float(np.clip(theta, 0.0, 1.0))
    var = (observed * (1 - observed) / n_eff + clipped ** 2 * se.value * (1 - se.value) / se.n
           + (1 - clipped) ** 2 * sp.value * (1 - sp.value) / sp.n) / j ** 2
    half = z_value(confidence) * float(np.sqrt(var))
    return Estimate(value=clipped, ci_low=float(np.clip(theta - half, 0.0, 1.0)),
                    ci_high=float(np.clip(theta + half, 0.0, 1.0)), n=n, ci_method=method, confidence=confidence)


@dataclass(frozen=True)
class KSampleRates:
    """Rates over prompts with k samples each: per generation (clustered) and per prompt (any)."""

    per_generation: Estimate     # share of all generations flagged, design-effect adjusted Wilson
    any_per_prompt: Estimate     # share of prompts with at least one flagged generation (Wilson over prompts)
    n_eff: float                 # effective n of the per-generation rate


def k_sample_rates(flags: Sequence[bool], prompt_ids: Sequence[str],
                   confidence: float = DEFAULT_CONFIDENCE) -> KSampleRates:
    """`flags[i]` is generation i's outcome; `prompt_ids[i]` the prompt it continues (the cluster)."""
    arr = np.asarray(flags, float)
    if arr.size == 0 or len(prompt_ids) != arr.size:
        raise ValueError("k_sample_rates needs one prompt id per flag, and at least one flag")
    per_generation = clustered_wilson(arr, list(prompt_ids), confidence)
    any_hit: dict[str, bool] = {}
    for flag, pid in zip(arr, prompt_ids):
        any_hit[pid] = any_hit.get(pid, False) or bool(flag)
    prompts = wilson_interval(sum(any_hit.values()), len(any_hit), confidence)
    return KSampleRates(per_generation=per_generation, any_per_prompt=prompts,
                        n_eff=effective_n(arr, list(prompt_ids)))
