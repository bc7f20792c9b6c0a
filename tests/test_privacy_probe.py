"""The vectorised DP linear-probe trainer against Opacus (same batches, same noise: same weights)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from audit.models.training.probe import Defect, ProbeSchedule, probe_predictions, train_probes


def _data(n: int = 40, d: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(np.int64)
    return x, y


def _opacus_run(x, y, schedule, sigma, masks, noises):
    """One Opacus DP-SGD run (hooks, Adam) fed the given Poisson masks and standard-normal noise."""
    import opacus.optimizers.optimizer as opt_module
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    n, d = x.shape
    model = nn.Linear(d, 2)
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=schedule.learning_rate)
    loader = DataLoader(TensorDataset(torch.arange(n)), batch_size=schedule.batch_size)
    engine = PrivacyEngine(accountant="rdp")
    module, dp_opt, _ = engine.make_private(module=model, optimizer=optimizer, data_loader=loader,
                                            noise_multiplier=sigma, max_grad_norm=schedule.max_grad_norm,
                                            poisson_sampling=True, grad_sample_mode="hooks")
    dp_opt.expected_batch_size = schedule.batch_size
    queue: list[torch.Tensor] = []
    original = opt_module._generate_noise

    def fake_noise(std, reference, generator=None, secure_mode=False):
        return queue.pop(0) * std

    opt_module._generate_noise = fake_noise
    try:
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        for step, mask in enumerate(masks):
            z = noises[step][0]                       # (K, D+1): weight columns, then the bias
            queue[:] = [z[:, :d].clone(), z[:, d].clone()]
            idx = torch.flatnonzero(mask[0]) if hasattr(torch, "flatnonzero") else mask[0].nonzero()[:, 0]
            dp_opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(module(xt[idx]), yt[idx])
            loss.backward()
            dp_opt.step()
    finally:
        opt_module._generate_noise = original
    return model.weight.detach(), model.bias.detach()


def test_vectorised_probe_matches_opacus_weight_for_weight():
    x, y = _data()
    schedule = ProbeSchedule(steps=12, batch_size=20, learning_rate=0.05, max_grad_norm=0.7)
    sigma = 1.3
    g = torch.Generator().manual_seed(3)
    masks = [torch.rand(1, x.shape[0], generator=g) < 0.5 for _ in range(schedule.steps)]
    for mask in masks:
        mask[0, 0] = True                              # never an empty batch (Opacus needs rows)
    noises = [torch.randn(1, 2, x.shape[1] + 1, generator=g) for _ in range(schedule.steps)]
    runs = train_probes(x, y, 2, schedule, noise_multipliers=np.array([sigma]), private=np.array([True]),
                        noise_fn=lambda step: noises[step - 1], batches=lambda step: masks[step - 1])
    weight, bias = _opacus_run(x, y, schedule, sigma, masks, noises)
    assert torch.allclose(runs.weights[0], weight, atol=1e-5), (runs.weights[0], weight)
    assert torch.allclose(runs.bias[0], bias, atol=1e-5)


def test_runs_are_independent_and_vectorised():
    """Run r of a batch of runs is the same as that run alone (given its draws)."""
    x, y = _data()
    schedule = ProbeSchedule(steps=5, batch_size=10, learning_rate=0.1, max_grad_norm=1.0)
    g = torch.Generator().manual_seed(0)
    masks = [torch.rand(3, x.shape[0], generator=g) < 0.25 for _ in range(schedule.steps)]
    noises = [torch.randn(3, 2, x.shape[1] + 1, generator=g) for _ in range(schedule.steps)]
    sigmas = np.array([0.5, 1.0, 2.0])
    together = train_probes(x, y, 2, schedule, noise_multipliers=sigmas, private=np.ones(3, bool),
                            noise_fn=lambda s: noises[s - 1], batches=lambda s: masks[s - 1])
    alone = train_probes(x, y, 2, schedule, noise_multipliers=sigmas[1:2], private=np.ones(1, bool),
                         noise_fn=lambda s: noises[s - 1][1:2], batches=lambda s: masks[s - 1][1:2])
    assert torch.allclose(together.weights[1], alone.weights[0], atol=1e-6)


def test_non_private_probe_learns_and_defects_change_the_result():
    x, y = _data(n=400)
    schedule = ProbeSchedule(steps=200, batch_size=64, learning_rate=0.05, max_grad_norm=1.0)
    control = train_probes(x, y, 2, schedule, noise_multipliers=np.zeros(1), private=np.zeros(1, bool), seed=1)
    assert (probe_predictions(control, x)[0] == y).mean() > 0.9
    kw = dict(noise_multipliers=np.array([1.0]), private=np.ones(1, bool), seed=1)
    correct = train_probes(x, y, 2, schedule, **kw)
    unclipped = train_probes(x, y, 2, schedule, defect=Defect.NO_CLIPPING, **kw)
    assert not torch.allclose(correct.weights, unclipped.weights)
    secure = train_probes(x, y, 2, schedule, secure=True, **kw)
    assert torch.isfinite(secure.weights).all()


def test_membership_losses_are_float32_whatever_the_dtype(tiny_classifier_dir):
    """Losses under `dtype: bfloat16` (bf16 autocast on a CPU) equal the float32 ones; the
    probabilities of `classify` keep the faster compute dtype."""
    from audit.config.schema import ModelSpec
    from audit.models.adapters.base import LossRequest
    from audit.models.resolve import load_adapter

    texts = ["a fine film", "dull and long", "the cast is great", "a mess"]
    requests = [LossRequest(text=t, label=i % 2) for i, t in enumerate(texts)]
    fast = load_adapter("fast", ModelSpec(path=str(tiny_classifier_dir), dtype="bfloat16"), prepared_dir=None,
                        cache_dir=None)
    exact = load_adapter("exact", ModelSpec(path=str(tiny_classifier_dir), dtype="float32"), prepared_dir=None,
                         cache_dir=None)
    assert np.allclose(fast.losses(requests), exact.losses(requests), atol=1e-6)
    logits = lambda a: np.log(a.classify(texts).astype(np.float64))
    assert not np.allclose(logits(fast), logits(exact), atol=1e-6)     # bf16 really is in use for classify
