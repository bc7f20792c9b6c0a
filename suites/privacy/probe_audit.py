"""The multi-run DP audit of the linear-probe trainer: many independent trainings, with and without
a worst-case canary, each from a secret seed; the ε lower bound from their FPR/FNR.

Design (Jagielski et al. 2020; Nasr et al. 2021's white-box "dirac" canary):
- dataset: `examples` cached training features (their first `dims` coordinates: the canary's
  statistic does not depend on the others, and each run then costs microseconds per step) with one
  extra coordinate, zero for every real example; the canary is M·e_extra (M ≫ the clipping norm, so clipping binds) with a fixed label.
  DP-SGD's guarantee holds for every pair of neighbouring datasets, so the auditor may choose them;
  the mechanism audited is the study's own: sampling rate q, steps, clipping norm, noise multiplier.
- observation: every privatised gradient sum projected on the canary's coordinate (the release
  DP-SGD's accountant covers); real examples contribute nothing there.
- score: the log-likelihood ratio of those projections for "canary in" under the claimed mechanism,
  Σ_t log(1 − q + q·exp((a·u_t − a²/2)/(σC)²)) with a = C (fixed before any run).
- bound: `audit.stats.multi_run_audit.audit_runs` (threshold on a calibration half, Clopper–Pearson
  on the held-out half).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from audit.models.training.probe import Defect, ProbeSchedule, train_probes
from audit.stats.multi_run_audit import RunAudit, audit_runs

CANARY_LABEL = 0


@dataclass(frozen=True)
class TrainerAudit:
    """The audit of one trainer (claimed ε, defect) and what it cost."""

    claimed: float
    defect: Defect
    result: RunAudit
    runs_per_arm: int
    scores_in: np.ndarray
    scores_out: np.ndarray
    seconds: float

    @property
    def seconds_per_probe(self) -> float:
        return self.seconds / (2 * self.runs_per_arm)


def audit_dataset(features: np.ndarray, labels: np.ndarray, examples: int, dims: int, rng: np.random.Generator,
                  canary_scale: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """`examples` rows of the features (first `dims` columns) with a zero extra coordinate, then the
    canary row (last)."""
    features = np.asarray(features, np.float32)[:, :dims]
    pick = rng.choice(features.shape[0], size=min(examples, features.shape[0]), replace=False)
    x = np.zeros((pick.size + 1, features.shape[1] + 1), np.float32)
    x[:-1, :-1] = features[pick]
    norm = max(1.0, float(np.linalg.norm(features[pick], axis=1).max()))
    x[-1, -1] = canary_scale * norm
    y = np.r_[labels[pick], CANARY_LABEL].astype(np.int64)
    return x, y


def canary_direction(n_classes: int, width: int) -> torch.Tensor:
    """(K, D+1) unit direction along which the canary's (clipped) gradient points: its projection
    is ≈ C when the canary is in the batch and clipping binds, 0 otherwise (plus noise)."""
    d = torch.zeros(n_classes, width + 1)
    d[:, width - 1] = 1.0 / max(n_classes - 1, 1)
    d[CANARY_LABEL, width - 1] = -1.0
    return d / d.norm()


def likelihood_ratio(observed: np.ndarray, q: float, sigma: float, clip: float) -> np.ndarray:
    """(R,) log-likelihood ratio 'canary in' vs 'out' of each run's projections u_t (claimed σ)."""
    a, s2 = clip, (sigma * clip) ** 2
    z = (a * observed - a * a / 2) / s2
    return np.logaddexp(np.log1p(-q), np.log(q) + z).sum(axis=1)


def audit_trainer(features: np.ndarray, labels: np.ndarray, n_classes: int, schedule: ProbeSchedule, *,
                  sigma: float, population: int, claimed: float, delta: float, runs_per_arm: int,
                  examples: int, dims: int = 16, defect: Defect = Defect.NONE, confidence: float = 0.95,
                  chunk: int = 4000, seed: int | None = None) -> TrainerAudit:
    """Train 2 × runs_per_arm probes (half with the canary), each its own secret draws, and bound ε.

    seed None: every draw is secret (os.urandom seeds); a seed makes the audit reproducible
    (measurement only). The audit dataset is drawn once; the runs differ only in their randomness."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    x, y = audit_dataset(features, labels, examples, dims, rng)
    direction = canary_direction(n_classes, x.shape[1])
    q = schedule.batch_size / population
    with_canary = np.r_[np.ones(runs_per_arm, bool), np.zeros(runs_per_arm, bool)]
    scores = []
    for lo in range(0, with_canary.size, chunk):
        arm = with_canary[lo:lo + chunk]
        present = np.ones((arm.size, x.shape[0]), bool)
        present[:, -1] = arm
        runs = train_probes(x, y, n_classes, schedule, noise_multipliers=np.full(arm.size, sigma),
                            private=np.ones(arm.size, bool), present=present, defect=defect,
                            seed=None if seed is None else int(rng.integers(2 ** 62)),
                            population=population, observe=direction)
        assert runs.observed is not None
        scores.append(likelihood_ratio(runs.observed.double().numpy(), q, sigma, schedule.max_grad_norm))
    everything = np.concatenate(scores)
    s_in, s_out = everything[with_canary], everything[~with_canary]
    order_in, order_out = rng.permutation(s_in.size), rng.permutation(s_out.size)
    result = audit_runs(s_in[order_in], s_out[order_out], delta, confidence=confidence)
    return TrainerAudit(claimed, defect, result, runs_per_arm, s_in, s_out, time.perf_counter() - started)
