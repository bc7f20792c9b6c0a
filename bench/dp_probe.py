"""DP-SGD on a linear head over cached features: the vectorised probe trainer against Opacus.

Both train the same softmax head (384 features, 2 classes, as on all-MiniLM-L6-v2's mean-pooled
output) from zero with Poisson batches, clipping and noise, Adam: (a) Opacus (nn.Linear under
PrivacyEngine, per-sample hooks), one run at a time; (b) audit.models.training.probe with R runs
at once (analytic per-sample gradients). The table shows seconds per DP-SGD step per run and the
ratio (a)/(b); features are random (the cost does not depend on their values).

    python -m bench.dp_probe [--n 2000] [--batch 256] [--steps 50] [--runs 1 64 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audit.models.training import dp
from audit.models.training.probe import ProbeSchedule, train_probes
from bench.common import emit, timed


def opacus_seconds_per_step(x: np.ndarray, y: np.ndarray, batch: int, steps: int) -> float:
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model = nn.Linear(x.shape[1], 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    loader = DataLoader(TensorDataset(xt, yt), batch_size=batch)
    with dp.quiet_opacus():
        module, dp_opt, _ = PrivacyEngine().make_private(module=model, optimizer=optimizer, data_loader=loader,
                                                         noise_multiplier=1.0, max_grad_norm=1.0,
                                                         poisson_sampling=True, grad_sample_mode="hooks")
        g = torch.Generator().manual_seed(0)
        q = batch / x.shape[0]

        def run() -> None:
            for _ in range(steps):
                idx = (torch.rand(x.shape[0], generator=g) < q).nonzero()[:, 0]
                dp_opt.zero_grad(set_to_none=True)
                nn.functional.cross_entropy(module(xt[idx]), yt[idx]).backward()
                dp_opt.step()

        seconds, _ = timed(run)
    return seconds / steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 64, 1000])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n, 384)).astype(np.float32) / 20
    y = (x[:, 0] > 0).astype(np.int64)
    result = {"n": args.n, "batch": args.batch, "steps": args.steps, "threads": torch.get_num_threads(),
              "opacus_s_per_step": opacus_seconds_per_step(x, y, args.batch, args.steps), "probe": []}
    schedule = ProbeSchedule(steps=args.steps, batch_size=args.batch, learning_rate=0.05, max_grad_norm=1.0)
    for runs in args.runs:
        seconds, _ = timed(lambda: train_probes(x, y, 2, schedule, noise_multipliers=np.ones(runs),
                                                private=np.ones(runs, bool), seed=0))
        result["probe"].append({"runs": runs, "s_per_step_per_run": seconds / args.steps / runs})
    return emit(result, table, args.json)


def table(result: dict) -> str:
    lines = [f"DP-SGD step on a 384x2 head, n={result['n']}, batch {result['batch']}, {result['threads']} threads",
             f"{'trainer':<26}{'s / step / run':>16}{'vs opacus':>12}",
             f"{'opacus (hooks), 1 run':<26}{result['opacus_s_per_step']:>16.2e}{1.0:>12.1f}"]
    for row in result["probe"]:
        ratio = result["opacus_s_per_step"] / row["s_per_step_per_run"]
        lines.append(f"{'probe, ' + str(row['runs']) + ' runs':<26}{row['s_per_step_per_run']:>16.2e}{ratio:>12.1f}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
