"""DP-SGD for a softmax linear head on cached frozen features, vectorised across independent runs.

A linear head's per-sample gradient is analytic: for example i with features x_i (bias appended)
and label y_i, dL/dW = (softmax(W x_i) − onehot(y_i)) ⊗ x_i, whose norm is ‖p_i − y_i‖·‖x_i‖. So
R runs (each its own dataset membership, Poisson batches, noise and noise multiplier) train at once
as (R, K, D+1) tensors: per step two einsums, no autograd and no per-sample hooks. The arithmetic is
Opacus' (clip factor C/(‖g‖+1e-6) capped at 1, sum, Gaussian noise of std σC, divide by the expected
batch size, then torch's Adam), which `tests/test_privacy_probe.py` checks weight for weight.

Defects can be planted (`Defect`) to test that an audit catches a broken implementation.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable

import numpy as np
import torch

CLIP_EPS = 1e-6            # Opacus: per_sample_clip_factor = C / (norm + 1e-6), clamped at 1
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
MEASUREMENT_ONLY = "measurement only, not a DP release (seeded: anyone with the seed can redraw the noise)"

NoiseFn = Callable[[int], torch.Tensor]      # step -> (R, K, D+1) standard normals


class Defect(str, Enum):
    """Planted implementation bugs (for audit controls); NONE is the correct trainer."""

    NONE = "none"
    NO_CLIPPING = "no_clipping"     # per-sample gradients summed unclipped
    HALF_NOISE = "half_noise"       # noise std half of what the accountant assumed
    NO_NOISE = "no_noise"           # noise multiplier forced to 0


@dataclass(frozen=True)
class ProbeSchedule:
    """What every run shares: steps, expected batch size (Poisson rate q = batch / n), Adam's rate."""

    steps: int
    batch_size: int
    learning_rate: float
    max_grad_norm: float


@dataclass
class ProbeRuns:
    """Final heads of R runs: weights (R, K, D) and bias (R, K), float32."""

    weights: torch.Tensor
    bias: torch.Tensor
    seconds: float = 0.0
    batch_sizes: list[float] = field(default_factory=list)     # mean realised batch size per step
    observed: torch.Tensor | None = None     # (R, steps): each privatised gradient sum projected on `observe`

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """(R, n, K) logits of `features` (n, D) under every run."""
        return torch.einsum("nd,rkd->rnk", features, self.weights) + self.bias[:, None, :]


def with_bias(features: np.ndarray | torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(features, dtype=np.float32))
    return torch.cat([x, torch.ones(x.shape[0], 1)], dim=1)


def effective_noise(noise_multipliers: np.ndarray, defect: Defect) -> np.ndarray:
    sigma = np.asarray(noise_multipliers, dtype=np.float64)
    if defect == Defect.HALF_NOISE:
        return sigma / 2
    if defect == Defect.NO_NOISE:
        return np.zeros_like(sigma)
    return sigma


class SecureNormal:
    """Standard normals from os.urandom (Box–Muller in float64): noise nobody can redraw from a seed.
    (Opacus' secure_mode also sums several draws against floating-point attacks; not done here.)"""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def __call__(self, _step: int) -> torch.Tensor:
        count = int(np.prod(self.shape))
        raw = np.frombuffer(os.urandom(16 * ((count + 1) // 2)), dtype=np.uint64).reshape(-1, 2)
        u1 = (raw[:, 0] >> np.uint64(11)).astype(np.float64) * 2.0 ** -53 + 2.0 ** -54
        u2 = (raw[:, 1] >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
        radius = np.sqrt(-2.0 * np.log(u1))
        z = np.concatenate([radius * np.cos(2 * np.pi * u2), radius * np.sin(2 * np.pi * u2)])[:count]
        return torch.from_numpy(z.reshape(self.shape).astype(np.float32))


def seeded_normal(shape: tuple[int, ...], generator: torch.Generator) -> NoiseFn:
    return lambda _step: torch.randn(shape, generator=generator)


def train_probes(features: np.ndarray | torch.Tensor, labels: np.ndarray, n_classes: int, schedule: ProbeSchedule, *,
                 noise_multipliers: np.ndarray, private: np.ndarray, present: np.ndarray | None = None,
                 defect: Defect = Defect.NONE, seed: int | None = None, secure: bool = False,
                 noise_fn: NoiseFn | None = None, batches: Callable[[int], torch.Tensor] | None = None,
                 population: int | None = None, observe: torch.Tensor | None = None) -> ProbeRuns:
    """Train R = len(noise_multipliers) heads from zero on (features, labels).

    private[r] False: plain Adam on the mean gradient of the Poisson batch (the non-private control).
    present (R, n): which examples are in run r's dataset (default: all); the rate is q = batch_size /
    population (default n). seed None draws a secret seed; `secure` takes noise and batches from
    os.urandom. `noise_fn` / `batches` (step -> (R, n) mask) override the draws (the Opacus cross-check).
    `observe` (K, D+1): record every step's privatised gradient sum projected on it (what a white-box
    auditor who sees each noisy gradient, the release DP-SGD's accountant covers, would see).
    """
    started = time.perf_counter()
    x = with_bias(features)
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    n, width = x.shape
    runs = len(noise_multipliers)
    onehot = torch.nn.functional.one_hot(y, n_classes).to(torch.float32)
    sigma = torch.as_tensor(effective_noise(noise_multipliers, defect), dtype=torch.float32)
    is_private = torch.as_tensor(np.asarray(private, dtype=bool))
    member = torch.ones(runs, n, dtype=torch.bool) if present is None else torch.as_tensor(np.asarray(present, bool))
    q = schedule.batch_size / (population or n)
    generator = torch.Generator().manual_seed(int.from_bytes(os.urandom(8), "little") >> 1 if seed is None else seed)
    shape = (runs, n_classes, width)
    draw_noise = noise_fn or (SecureNormal(shape) if secure else seeded_normal(shape, generator))
    if batches is None:
        def batches(_step: int) -> torch.Tensor:
            u = torch.from_numpy(np.frombuffer(os.urandom(4 * runs * n), np.uint32).reshape(runs, n) / 2.0 ** 32) \
                if secure else torch.rand(runs, n, generator=generator, dtype=torch.float64)
            return (u < q) & member
    w = torch.zeros(shape)
    m, v = torch.zeros(shape), torch.zeros(shape)
    x_norm = x.norm(dim=1)                                                  # (n,)
    clip = schedule.max_grad_norm
    realised, seen = [], []
    for step in range(1, schedule.steps + 1):
        mask = batches(step).to(torch.float32)                              # (R, n)
        realised.append(float(mask.sum(1).mean()))
        p = torch.softmax(torch.einsum("nd,rkd->rnk", x, w), dim=-1)
        err = p - onehot                                                    # (R, n, K)
        norms = err.norm(dim=-1) * x_norm                                   # per-sample gradient norms
        factor = (clip / (norms + CLIP_EPS)).clamp(max=1.0)
        if defect == Defect.NO_CLIPPING:
            factor = torch.ones_like(factor)
        factor = torch.where(is_private[:, None], factor, torch.ones_like(factor)) * mask
        grad = torch.einsum("rnk,nd->rkd", err * factor[..., None], x)
        noise = draw_noise(step) * (sigma * clip)[:, None, None]
        grad = torch.where(is_private[:, None, None], grad + noise, grad)
        if observe is not None:
            seen.append(torch.einsum("rkd,kd->r", grad, observe))
        grad = grad / (q * (population or n))                               # Opacus: / expected batch size
        m.mul_(ADAM_BETAS[0]).add_(grad, alpha=1 - ADAM_BETAS[0])
        v.mul_(ADAM_BETAS[1]).addcmul_(grad, grad, value=1 - ADAM_BETAS[1])
        step_size = schedule.learning_rate / (1 - ADAM_BETAS[0] ** step)
        denom = (v.sqrt() / math.sqrt(1 - ADAM_BETAS[1] ** step)).add_(ADAM_EPS)
        w.addcdiv_(m, denom, value=-step_size)
    return ProbeRuns(weights=w[:, :, :-1].contiguous(), bias=w[:, :, -1].contiguous(),
                     seconds=time.perf_counter() - started, batch_sizes=realised,
                     observed=torch.stack(seen, dim=1) if seen else None)


def probe_losses(runs: ProbeRuns, features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(R, n) cross-entropy (nats, float64) of each example under each run."""
    logits = runs.logits(torch.as_tensor(np.asarray(features, np.float32))).double()
    y = torch.as_tensor(np.asarray(labels, np.int64))
    picked = logits.gather(2, y[None, :, None].expand(logits.shape[0], -1, 1))[..., 0]
    return (torch.logsumexp(logits, dim=-1) - picked).numpy()


def probe_predictions(runs: ProbeRuns, features: np.ndarray) -> np.ndarray:
    """(R, n) predicted class of each example under each run."""
    return runs.logits(torch.as_tensor(np.asarray(features, np.float32))).argmax(-1).numpy()
