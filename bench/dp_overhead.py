"""DP-SGD step time: non-private vs Opacus per-sample hooks vs ghost clipping, same classifier and batches.

All three train the same classifier (all-MiniLM-L6-v2's real encoder, from `minilm_base_dir()`,
under a seeded random 2-label head), with its embeddings frozen in all three (Opacus cannot take
their per-sample gradients; audit.models.training.dp.static_freezes), on the same batches of --batch real
rt_polarity sentences padded to --length tokens, from the same seeds, in one process:
(a) non-private: AdamW on the batch's mean loss (the trainer's plain step);
(b) hooks: Opacus per-sample gradients (GradSampleModule hooks), flat clipping, noise;
(c) ghost: Opacus ghost clipping (two backward passes, no per-sample gradients kept).
(b) and (c) are the trainer's own DP step (audit.models.training.dp.make_private + PrivateModel.step), on
fixed-size batches rather than Poisson ones: the per-step cost at one batch size is what is compared.
After --warmup steps of each, the --steps timed steps are interleaved (a, b, c on batch i, then
batch i+1, ...) so that load from other processes falls on all three alike; the table shows the
mean and the fastest seconds per step and the ratios of the means to (a).

    python -m bench.dp_overhead [--steps 10] [--warmup 3] [--batch 32] [--length 64] [--threads N]
                                [--model DIR] [--device auto|cpu|cuda] [--json out.json] [--quick]

--model: another BERT-like classifier or encoder folder (bench.table passes its random BERT-base);
--device auto trains on the GPU when there is one (each step ends in a host sync: the loss as a float).
--quick: a tiny random BERT (tests.tiny_models), batch 8, length 16, 1 warm-up and 2 timed steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from audit.data.resolver import builtin_path
from audit.errors import ModelLoadError
from audit.models.adapters.loading import resolve_device
from audit.models.training import dp
from audit.models.training.examples import Examples
from audit.models.training.recipe import FineTuneRecipe, TrainingData
from bench.common import emit, timed

NON_PRIVATE, HOOKS, GHOST = "non-private", "opacus hooks", "opacus ghost"
ROWS = (NON_PRIVATE, HOOKS, GHOST)
LEARNING_RATE = 5e-5


def rt_sentences(n: int) -> TrainingData:
    """The first n/2 positive and n/2 negative rt_polarity sentences, interleaved, with labels."""
    folder = builtin_path("rt_polarity")
    pos = (folder / "rt-polarity.pos").read_text(encoding="utf-8").splitlines()
    neg = (folder / "rt-polarity.neg").read_text(encoding="utf-8").splitlines()
    rows = [(s.strip(), label) for pair in zip(pos, neg) for s, label in zip(pair, (1, 0)) if s.strip()][:n]
    return TrainingData(tuple(t for t, _ in rows), tuple(label for _, label in rows))


def load_classifier(model_dir: Path, device: str = "cpu") -> tuple[torch.nn.Module, Any, list[tuple[str, str]]]:
    """The classifier (seeded head) on `device`, its tokenizer, and what was frozen for Opacus (the same
    in all runs)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=2, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1},
        ignore_mismatched_sizes=True, use_safetensors=True, local_files_only=True, dtype=torch.float32)
    model.to(device).train()
    frozen = dp.static_freezes(model)
    for name, _ in frozen:
        model.get_submodule(name).requires_grad_(False)
    return model, AutoTokenizer.from_pretrained(model_dir, local_files_only=True), frozen


def make_step(row: str, model: torch.nn.Module, examples: Examples, batch: int, n: int) -> Callable[..., Any]:
    if row == NON_PRIVATE:
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE)

        def step(inputs: dict[str, torch.Tensor], labels: torch.Tensor) -> float:
            loss = examples.mean_loss(model(**inputs).logits, labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return loss.item()

        return step
    private = dp.make_private(model, mode="hooks" if row == HOOKS else "ghost", noise=1.0, max_grad_norm=1.0,
                              batch_size=batch, n=n, learning_rate=LEARNING_RATE, weight_decay=0.0,
                              accountant="rdp", seed=0)
    return lambda inputs, labels: private.step(inputs, labels, examples.per_example_loss)


def measure(model_dir: Path, *, batch: int, length: int, warmup: int, steps: int,
            device: str = "cpu") -> dict[str, Any]:
    n = batch * (warmup + steps)
    data = rt_sentences(n)
    if len(data) < n:
        raise SystemExit(f"rt_polarity has only {len(data)} sentences; need {n}")
    runs: dict[str, Callable[..., Any]] = {}
    examples = frozen = trainable = None
    with dp.quiet_opacus():
        for row in ROWS:
            model, tokenizer, frozen = load_classifier(model_dir, device)
            recipe = FineTuneRecipe(base=str(model_dir), labels=("negative", "positive"), max_length=length)
            examples = dataclasses.replace(Examples.build(tokenizer, recipe, data), device=device)
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            runs[row] = make_step(row, model, examples, batch, n)
        assert examples is not None
        batches = [examples.batch(range(i * batch, (i + 1) * batch), width=length) for i in range(warmup + steps)]
        for row in ROWS:
            for inputs, labels in batches[:warmup]:
                runs[row](inputs, labels)
        seconds: dict[str, list[float]] = {row: [] for row in ROWS}
        for inputs, labels in batches[warmup:]:
            for row in ROWS:
                seconds[row].append(timed(lambda: runs[row](inputs, labels))[0])
    mean = {row: float(np.mean(times)) for row, times in seconds.items()}
    return {
        "model": str(model_dir), "batch": batch, "length": length, "warmup": warmup, "steps": steps,
        "device": device, "dtype": "float32", "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "machine": platform.processor(), "load_average_1m": os.getloadavg()[0],
        "frozen": [{"module": name, "reason": reason} for name, reason in frozen or []],
        "trainable_parameters": trainable,
        "seconds_per_step": mean, "seconds_per_step_min": {row: min(t) for row, t in seconds.items()},
        "seconds_all": seconds,
        "ratio_hooks_over_nonprivate": mean[HOOKS] / mean[NON_PRIVATE],
        "ratio_ghost_over_nonprivate": mean[GHOST] / mean[NON_PRIVATE],
    }


def format_table(result: dict[str, Any]) -> str:
    lines = [f"model {result['model']}  device={result['device']}  batch={result['batch']}  length={result['length']}  "
             f"threads={result['torch_threads']}  load={result['load_average_1m']:.1f}  "
             f"trainable={result['trainable_parameters']:,} parameters  "
             f"({result['warmup']} warm-up + {result['steps']} timed steps each)",
             f"{'method':<16}{'s/step':>10}{'fastest':>10}{'x non-private':>15}"]
    base = result["seconds_per_step"][NON_PRIVATE]
    for row in ROWS:
        mean = result["seconds_per_step"][row]
        lines.append(f"{row:<16}{mean:>10.3f}{result['seconds_per_step_min'][row]:>10.3f}{mean / base:>14.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps of each method")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps of each method first")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=64, help="tokens per sentence (padded / truncated)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: all CPU cores, as the trainer)")
    parser.add_argument("--model", type=Path, help="classifier or encoder folder (default: all-MiniLM-L6-v2's encoder)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where to train (auto: the GPU when there is one)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--quick", action="store_true", help="a tiny random BERT, batch 8, length 16 (for tests)")
    args = parser.parse_args(argv)
    from audit.data.prepare.sentiment import minilm_base_dir, torch_threads

    try:
        device = resolve_device(args.device)
    except ModelLoadError as exc:
        parser.error(str(exc))

    with torch_threads(args.threads or os.cpu_count()), tempfile.TemporaryDirectory() as tmp:
        if args.quick:
            from tests.tiny_models import build_tiny_classifier

            model_dir = build_tiny_classifier(Path(tmp) / "tiny-classifier")
            settings = dict(batch=8, length=16, warmup=1, steps=2)
        else:
            model_dir = args.model or minilm_base_dir()
            settings = dict(batch=args.batch, length=args.length, warmup=args.warmup, steps=args.steps)
        result = {**measure(model_dir, **settings, device=device), "quick": args.quick}
    return emit(result, format_table, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
