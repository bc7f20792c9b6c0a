"""FineTuneTrainer: the trainer behind LocalModelFactory.derive (classification or causal LM, DP or not).

Seeded and deterministic on a CPU (same recipe and data, same weights). Without `recipe.privacy`:
exactly `steps` AdamW steps on fixed-size batches from reshuffled epochs. With it: DP-SGD through
Opacus (audit.models.training.dp), Poisson batches, noise set so that `steps` steps meet the target epsilon.
Batches are padded to their longest sequence (truncated at `max_length`). The folder written loads
with plain transformers (safetensors, tokenizer, id2label) and holds the report as training.json.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from audit.errors import ConfigError, ModelLoadError
from audit.models.adapters.base import ModelKind
from audit.versions import package_version
from audit.models.adapters.loading import auto_class, resolve_device
from audit.models.training import dp
from audit.models.training.probe import MEASUREMENT_ONLY
from audit.models.training.examples import Examples, fixed_batches
from audit.models.training.recipe import FineTuneRecipe, TrainingData

TRAINER_VERSION = "1"
REPORT_NAME = "training.json"
TASKS = ("classification", "causal_lm")
LAST = 10                       # final loss: mean of the last LAST steps
THREADS_ENV = "RAI_AUDIT_TRAIN_THREADS"

log = logging.getLogger("audit.models.training")


def training_threads() -> int:
    """torch threads while training: every core, or RAI_AUDIT_TRAIN_THREADS. On a CPU that other jobs
    share, fewer threads can be much faster (2 threads with one core busy: 65x slower steps, measured)."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ConfigError(f"{THREADS_ENV} must be a positive integer (got {value!r})")
        return int(value)
    return os.cpu_count() or 1


def _matches(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p.rstrip(".") + ".") for p in prefixes)


def validate(recipe: FineTuneRecipe, data: TrainingData) -> None:
    """ConfigError naming the recipe field at fault. Loads no weights; the freezing is checked against
    the base's parameter names when `recipe.base` is a local folder or a package: reference."""
    if recipe.task not in TASKS:
        raise ConfigError(f"task must be one of {', '.join(TASKS)} (got {recipe.task!r})")
    for name in ("steps", "batch_size", "max_length"):
        value = getattr(recipe, name)
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer (got {value!r})")
    if recipe.task == "causal_lm" and recipe.max_length < 2:
        raise ConfigError(f"max_length must be >= 2 for causal_lm (got {recipe.max_length})")
    if not recipe.learning_rate > 0:
        raise ConfigError(f"learning_rate must be > 0 (got {recipe.learning_rate!r})")
    if not recipe.weight_decay >= 0:
        raise ConfigError(f"weight_decay must be >= 0 (got {recipe.weight_decay!r})")
    n = len(data)
    if n == 0:
        raise ConfigError("data: no training examples")
    if n < recipe.batch_size:
        raise ConfigError(f"batch_size {recipe.batch_size} is larger than the training set ({n} examples)")
    if recipe.task == "classification":
        if len(recipe.labels) < 2 or len(set(recipe.labels)) != len(recipe.labels):
            raise ConfigError(f"labels: classification needs at least two distinct label names (got {recipe.labels!r})")
        if data.labels is None:
            raise ConfigError("data.labels: classification needs a label index per training example (got none)")
        for i, label in enumerate(data.labels):
            if not (isinstance(label, (int, np.integer)) and 0 <= label < len(recipe.labels)):
                raise ConfigError(f"data.labels: example {i} has label {label!r}, outside the {len(recipe.labels)} "
                                  f"recipe labels {list(recipe.labels)}")
    if recipe.privacy is not None:
        dp.check_spec(recipe.privacy, n)
    skeleton = _skeleton(recipe)
    if skeleton is not None:
        plan_freezing(skeleton, recipe)


def _skeleton(recipe: FineTuneRecipe) -> torch.nn.Module | None:
    """The base's architecture on the meta device (names and shapes, no weights), or None."""
    from transformers import AutoConfig

    from audit.models.adapters.loading import resolve_model_dir

    if recipe.base.startswith("prepared:"):
        return None
    try:
        folder = resolve_model_dir(recipe.base, Path("."))
        config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
        if recipe.task == "classification":
            config.num_labels = len(recipe.labels)
        with torch.device("meta"):
            return task_auto_class(recipe.task).from_config(config)
    except Exception:  # noqa: BLE001 - not resolvable here (e.g. prepared:NAME): train() checks again
        return None


def task_auto_class(task: str) -> Any:
    """The transformers Auto class a recipe's task trains (one mapping: adapters.loading.auto_class)."""
    return auto_class(ModelKind.CLASSIFIER if task == "classification" else ModelKind.CAUSAL_LM)


def plan_freezing(model: torch.nn.Module, recipe: FineTuneRecipe) -> list[dict[str, Any]]:
    """Set requires_grad from recipe.freeze / recipe.train_only (and, under DP, what Opacus cannot train);
    return what was frozen and why. ConfigError for a prefix that matches nothing or nothing left to train."""
    names = [name for name, _ in model.named_parameters()]
    for field_name in ("freeze", "train_only"):
        for prefix in getattr(recipe, field_name):
            if not any(_matches(name, [prefix]) for name in names):
                raise ConfigError(f"{field_name}: prefix {prefix!r} matches no parameter of {recipe.base} "
                                  f"(e.g. {', '.join(names[:3])})")
    frozen = []

    def freeze(prefixes: Sequence[str], reason: str, label: str | None = None, outside: bool = False) -> None:
        count = 0
        for name, p in model.named_parameters():
            if p.requires_grad and _matches(name, prefixes) != outside:
                p.requires_grad_(False)
                count += p.numel()
        if count:
            frozen.append({"module": label or prefixes[0], "reason": reason, "parameters": count})

    for prefix in recipe.freeze:
        freeze([prefix], "recipe.freeze")
    if recipe.train_only:
        freeze(recipe.train_only, "recipe.train_only: not listed", label="(all but train_only)", outside=True)
    if recipe.privacy is not None:
        for name, reason in dp.static_freezes(model):
            freeze([name], reason)
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError("freeze / train_only: no trainable parameter is left "
                          f"(frozen: {', '.join(f['module'] for f in frozen) or 'nothing'})")
    return frozen


def train_plain(model: torch.nn.Module, examples: Examples, recipe: FineTuneRecipe) -> tuple[list[float], float]:
    """(loss of every step, seconds of the steps)."""
    started = time.perf_counter()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    generator = torch.Generator().manual_seed(recipe.seed)
    losses = []
    model.train()
    for index in fixed_batches(len(examples), recipe.batch_size, recipe.steps, generator):
        inputs, labels = examples.batch(index)
        loss = examples.mean_loss(model(**inputs).logits, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses, time.perf_counter() - started


def train_private(model: torch.nn.Module, examples: Examples, recipe: FineTuneRecipe
                  ) -> tuple[torch.nn.Module, list[float], float, dict[str, Any]]:
    """(the unwrapped model, loss of every non-empty step, seconds of the steps, privacy report)."""
    with dp.quiet_opacus():
        return _train_private(model, examples, recipe)


def _train_private(model: torch.nn.Module, examples: Examples, recipe: FineTuneRecipe
                   ) -> tuple[torch.nn.Module, list[float], float, dict[str, Any]]:
    setup_started = time.perf_counter()
    spec, n = recipe.privacy, len(examples)
    assert spec is not None
    sample_rate = recipe.batch_size / n
    noise = dp.noise_multiplier(spec, sample_rate, recipe.steps)
    trial_inputs, trial_labels = examples.batch([i % n for i in range(min(4, max(2, n)))])
    mode, reason = dp.choose_mode(spec, model, trial_inputs, trial_labels, examples.per_example_loss,
                                  batch_size=recipe.batch_size, n=n)
    if spec.secure_mode:
        dp.check_secure_mode()
    private = dp.make_private(model, mode=mode, noise=noise, max_grad_norm=spec.max_grad_norm,
                              batch_size=recipe.batch_size, n=n, learning_rate=recipe.learning_rate,
                              weight_decay=recipe.weight_decay, accountant=spec.accountant, seed=recipe.seed,
                              secure_mode=spec.secure_mode)
    sampler = torch.Generator().manual_seed(int.from_bytes(os.urandom(8), "little") >> 1 if spec.secure_mode
                                            else recipe.seed)
    losses = []
    started = time.perf_counter()
    setup = started - setup_started          # noise search, ghost trial step, wrapping
    for _ in range(recipe.steps):
        index = (torch.rand(n, generator=sampler) < sample_rate).nonzero().flatten()
        inputs, labels = examples.batch(index) if len(index) else (None, None)
        loss = private.step(inputs, labels, examples.per_example_loss)
        if loss is not None:
            losses.append(loss)
    seconds = time.perf_counter() - started
    report = {"accountant": spec.accountant, "epsilon_target": spec.epsilon,
              "epsilon_spent": private.epsilon(spec.delta), "delta": spec.delta, "noise_multiplier": noise,
              "max_grad_norm": spec.max_grad_norm,
              "sample_rate": sample_rate, "steps": private.steps_accounted(), "mode": mode, "mode_reason": reason,
              "empty_batches": private.empty_batches, "mean_batch_size": float(np.mean(private.batch_sizes)),
              "seconds_setup": round(setup, 3), "secure_mode": spec.secure_mode,
              "release": "secure RNG (Opacus secure_mode)" if spec.secure_mode else MEASUREMENT_ONLY}
    if report["steps"] != recipe.steps:
        raise RuntimeError(f"the accountant saw {report['steps']} steps, not {recipe.steps}")
    return private.close(), losses, seconds, report


def load_base(recipe: FineTuneRecipe) -> tuple[torch.nn.Module, Any]:
    """The base model for the task (safetensors only, no remote code) and its tokenizer."""
    from transformers import AutoTokenizer

    options: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False, "use_safetensors": True,
                               "dtype": torch.float32}
    if recipe.task == "classification":
        options.update(num_labels=len(recipe.labels), id2label=dict(enumerate(recipe.labels)),
                       label2id={label: i for i, label in enumerate(recipe.labels)}, ignore_mismatched_sizes=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(recipe.base, local_files_only=True, trust_remote_code=False)
        model = task_auto_class(recipe.task).from_pretrained(recipe.base, **options)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{recipe.base}: cannot load the base of a {recipe.task} fine-tune: {exc}") from None
    return model, tokenizer


class FineTuneTrainer:
    """Writes a fine-tuned Hugging Face folder and returns the training report (see the module doc)."""

    version = TRAINER_VERSION

    def __init__(self, device: str = "cpu") -> None:
        self.device = device      # "cpu" (default, bit-reproducible), "cuda", "cuda:N" or "auto"

    def train(self, recipe: FineTuneRecipe, data: TrainingData, out_dir: Path) -> dict[str, Any]:
        from audit.data.prepare.sentiment import torch_threads

        validate(recipe, data)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with torch_threads(training_threads()), torch.random.fork_rng(devices=[]):
            torch.manual_seed(recipe.seed)
            model, tokenizer = load_base(recipe)
            device = resolve_device(self.device)
            model.to(device)
            model.train()
            frozen = plan_freezing(model, recipe)
            examples = Examples.build(tokenizer, recipe, data)
            examples.device = device
            if recipe.privacy is not None:
                probe, _ = examples.batch([i % len(examples) for i in range(max(2, min(4, len(examples))))])
                for name, reason in dp.broadcast_embeddings(model, probe):
                    count = sum(p.numel() for p in model.get_submodule(name).parameters() if p.requires_grad)
                    model.get_submodule(name).requires_grad_(False)
                    frozen.append({"module": name, "reason": reason, "parameters": count})
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            if trainable == 0:
                raise ConfigError("freeze / train_only: no trainable parameter is left after freezing what "
                                  "Opacus cannot train")
            threads = torch.get_num_threads()
            log.info("fine-tune %s: %s, %d examples, %d steps of %d, %s trainable parameters, %s", recipe.base,
                     recipe.task, len(examples), recipe.steps, recipe.batch_size, f"{trainable:,}",
                     "non-private" if recipe.privacy is None else f"DP-SGD to epsilon {recipe.privacy.epsilon}")
            privacy = None
            if recipe.privacy is None:
                losses, loop_seconds = train_plain(model, examples, recipe)
            else:
                model, losses, loop_seconds, privacy = train_private(model, examples, recipe)
            model.eval()
            model.save_pretrained(out_dir, safe_serialization=True)
            tokenizer.save_pretrained(out_dir)
        report = _report(recipe, data, model, losses, frozen, trainable, privacy, threads,
                         total=time.perf_counter() - started, loop=loop_seconds)
        (out_dir / REPORT_NAME).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        log.info("fine-tune done in %.1f s: final loss %.4f%s", report["seconds_total"], report["final_loss"] or 0.0,
                 "" if privacy is None else f", epsilon spent {privacy['epsilon_spent']:.3f} ({privacy['mode']})")
        return report


def _report(recipe: FineTuneRecipe, data: TrainingData, model: torch.nn.Module, losses: list[float],
            frozen: list[dict[str, Any]], trainable: int, privacy: dict[str, Any] | None, threads: int, *,
            total: float, loop: float) -> dict[str, Any]:
    return {
        "trainer": f"FineTuneTrainer {TRAINER_VERSION}", "task": recipe.task, "steps": recipe.steps,
        "batch_size": recipe.batch_size, "learning_rate": recipe.learning_rate, "seed": recipe.seed,
        "n_train": len(data), "trainable_parameters": trainable,
        "total_parameters": sum(p.numel() for p in model.parameters()), "frozen": frozen,
        "seconds_total": round(total, 3), "seconds_train": round(loop, 3), "seconds_per_step": loop / recipe.steps,
        "initial_loss": float(np.mean(losses[:LAST])) if losses else None,
        "final_loss": float(np.mean(losses[-LAST:])) if losses else None, "loss_steps": len(losses),
        "threads": threads, "versions": {name: package_version(name) for name in ("torch", "transformers", "opacus")},
        "privacy": privacy,
    }
