"""DP-SGD through Opacus for FineTuneTrainer: what to freeze, the noise, the private steps, the accounting.

Sampling is Poisson with rate q = batch_size / n, done here with a seeded generator (Opacus' own
loader derives q from len(loader) = ceil(n / batch_size), which is not batch_size / n unless the
batch size divides n; its expected batch size and accountant hook are set to the exact q after
`make_private`). The noise multiplier is the smallest one that meets the target (epsilon, delta)
after exactly `steps` steps at rate q, for the recipe's accountant. An empty Poisson batch still
takes a (noise-only) optimizer step, so the accountant sees every step.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import nn

from audit.errors import ConfigError
from audit.models.training.recipe import PrivacySpec

BERT_EMBEDDINGS_REASON = "opacus 1.6 per-sample gradients fail for BERT embeddings (FIELD-NOTES)"
BROADCAST_REASON = ("called with one row for the whole batch (shared position ids): opacus per-sample "
                    "gradients need one row per example")
MODES = ("auto", "ghost", "hooks")
ACCOUNTANTS = ("rdp", "prv")

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]     # (logits, labels) -> per-example losses


@contextlib.contextmanager
def quiet_opacus() -> Iterator[None]:
    """Silence what Opacus repeats on every call: its non-cryptographic RNG, the RDP order search
    hitting its largest alpha while the noise is searched, and torch's note on backward hooks of
    modules whose inputs need no gradient (frozen embeddings below them)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG.*")
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        yield


def check_spec(spec: PrivacySpec, n: int) -> None:
    """ConfigError naming the `privacy.*` field at fault; n is the number of training examples."""
    if not (isinstance(spec.epsilon, (int, float)) and 0 < spec.epsilon < float("inf")):
        raise ConfigError(f"privacy.epsilon must be > 0 and finite (got {spec.epsilon!r})")
    if not (isinstance(spec.delta, (int, float)) and 0 < spec.delta < 1 / max(n, 1)):
        raise ConfigError(f"privacy.delta must be > 0 and < 1/n = {1 / max(n, 1):.3g} for n={n} training "
                          f"examples (got {spec.delta!r})")
    if not (isinstance(spec.max_grad_norm, (int, float)) and spec.max_grad_norm > 0):
        raise ConfigError(f"privacy.max_grad_norm must be > 0 (got {spec.max_grad_norm!r})")
    if spec.accountant not in ACCOUNTANTS:
        raise ConfigError(f"privacy.accountant must be one of {', '.join(ACCOUNTANTS)} (got {spec.accountant!r})")
    if spec.mode not in MODES:
        raise ConfigError(f"privacy.mode must be one of {', '.join(MODES)} (got {spec.mode!r})")


def static_freezes(model: nn.Module) -> list[tuple[str, str]]:
    """(module name, reason) of trainable modules Opacus cannot train, found without running the model:
    BERT-style `*.embeddings` blocks, and what `opacus.validators.ModuleValidator` rejects."""
    from opacus.utils.module_utils import trainable_modules
    from opacus.validators import ModuleValidator

    found = []
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] == "embeddings" and isinstance(getattr(module, "position_embeddings", None),
                                                                  nn.Embedding) \
                and any(p.requires_grad for p in module.parameters()):
            found.append((name, BERT_EMBEDDINGS_REASON))
    covered = tuple(name + "." for name, _ in found)
    for name, module in trainable_modules(model):
        validator = ModuleValidator.VALIDATORS.get(type(module))
        errors = validator(module) if validator else []
        if errors and not (name + ".").startswith(covered):
            found.append((name, f"opacus ModuleValidator: {errors[0]}"))
    return found


def broadcast_embeddings(model: nn.Module, inputs: dict[str, torch.Tensor]) -> list[tuple[str, str]]:
    """(module name, reason) of trainable embeddings that one forward pass calls with a batch dimension
    other than the batch's (position embeddings fed shared position ids): Opacus fails on those."""
    rows = inputs["input_ids"].shape[0]
    odd: dict[str, None] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Embedding) and module.weight.requires_grad:
            def hook(_module: nn.Module, args: tuple, _out: Any, name: str = name) -> None:
                if args and isinstance(args[0], torch.Tensor) and (args[0].dim() == 0 or args[0].shape[0] != rows):
                    odd[name] = None
            handles.append(module.register_forward_hook(hook))
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
    return [(name, BROADCAST_REASON) for name in odd]


def noise_multiplier(spec: PrivacySpec, sample_rate: float, steps: int) -> float:
    from opacus.accountants.utils import get_noise_multiplier

    try:
        return float(get_noise_multiplier(target_epsilon=spec.epsilon, target_delta=spec.delta,
                                          sample_rate=sample_rate, steps=steps, accountant=spec.accountant))
    except ValueError as exc:
        raise ConfigError(f"privacy.epsilon {spec.epsilon} cannot be met with delta {spec.delta}, "
                          f"sample rate {sample_rate:.4g} and {steps} steps ({exc})") from None


@dataclass
class PrivateModel:
    """A model under Opacus: `step` runs one DP-SGD step on a batch; `close` returns the plain model."""

    engine: Any
    module: Any                      # the GradSampleModule
    optimizer: Any                   # the DPOptimizer
    mode: str                        # "ghost" | "hooks"
    sample_rate: float
    empty_batches: int = 0
    batch_sizes: list[int] = field(default_factory=list)

    def step(self, inputs: dict[str, torch.Tensor] | None, labels: torch.Tensor | None,
             loss_fn: LossFn) -> float | None:
        """One DP-SGD step; `inputs` None (an empty Poisson batch) steps with noise only. Returns the
        mean training loss of the batch (None when empty)."""
        from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping

        self.optimizer.zero_grad(set_to_none=True)
        if inputs is None:
            self.empty_batches += 1
            self.batch_sizes.append(0)
            for p in self.optimizer.params:             # a zero clipped sum, then noise
                if self.mode == "ghost":
                    p.grad = torch.zeros_like(p)
                else:
                    p.grad_sample = p.new_zeros((0, *p.shape))
            self.optimizer.step()
            return None
        self.batch_sizes.append(int(inputs["input_ids"].shape[0]))
        per_example = loss_fn(self.module(**inputs).logits, labels)
        if self.mode == "ghost":
            DPTensorFastGradientClipping(self.module, self.optimizer, per_example, "mean").backward()
        else:
            per_example.mean().backward()
        self.optimizer.step()
        return float(per_example.detach().mean())

    def epsilon(self, delta: float) -> float:
        return float(self.engine.accountant.get_epsilon(delta=delta))

    def steps_accounted(self) -> int:
        return int(sum(entry[2] for entry in self.engine.accountant.history))

    def close(self) -> nn.Module:
        """Remove Opacus' hooks and per-parameter attributes; the unwrapped model saves and loads plainly."""
        self.module.cleanup()
        model = self.module._module
        for p in model.parameters():
            for attr in ("grad_sample", "summed_grad", "_forward_counter", "_current_grad_sample", "_norm_sample"):
                if hasattr(p, attr):
                    delattr(p, attr)
            p.grad = None
        return model


def check_secure_mode() -> None:
    """Opacus' secure mode draws noise from torchcsprng; say so in one line when it is missing."""
    try:
        import torchcsprng  # noqa: F401
    except ImportError:
        raise ConfigError("privacy.secure_mode needs the torchcsprng package (Opacus' cryptographically secure "
                          "RNG); install it, or leave secure_mode off (the model is then measurement only, "
                          "not a DP release)") from None


def make_private(model: nn.Module, *, mode: str, noise: float, max_grad_norm: float, batch_size: int, n: int,
                 learning_rate: float, weight_decay: float, accountant: str, seed: int,
                 secure_mode: bool = False) -> PrivateModel:
    """Wrap `model` (its trainable parameters under AdamW) with Opacus' PrivacyEngine in `mode`.
    Without `secure_mode` the noise comes from a generator seeded by `seed`: a measurement, not a
    DP release (anyone with the seed can redraw the noise)."""
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    from opacus.validators import ModuleValidator

    model.train()                                      # opacus rejects a model in eval mode
    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        raise ConfigError(f"opacus cannot train this model as frozen (freeze more with recipe.freeze): "
                          f"{'; '.join(map(str, errors))}")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    sample_rate = batch_size / n
    loader = DataLoader(TensorDataset(torch.arange(n)), batch_size=batch_size)   # bookkeeping only: not iterated
    with quiet_opacus():
        engine = PrivacyEngine(accountant=accountant, secure_mode=secure_mode)
        common = dict(module=model, optimizer=optimizer, data_loader=loader, noise_multiplier=noise,
                      max_grad_norm=max_grad_norm, poisson_sampling=True, grad_sample_mode=mode,
                      noise_generator=None if secure_mode else
                      torch.Generator(device=next(model.parameters()).device).manual_seed(seed + 1))
        if mode == "ghost":
            module, dp_optimizer, _criterion, _loader = engine.make_private(criterion=nn.CrossEntropyLoss(), **common)
        else:
            module, dp_optimizer, _loader = engine.make_private(**common)
    dp_optimizer.expected_batch_size = batch_size      # = q * n exactly (Opacus: n / ceil(n / batch_size))
    dp_optimizer.attach_step_hook(engine.accountant.get_optimizer_hook_fn(sample_rate=sample_rate))
    return PrivateModel(engine, module, dp_optimizer, mode, sample_rate)


def ghost_failure(model: nn.Module, inputs: dict[str, torch.Tensor], labels: torch.Tensor, loss_fn: LossFn,
                  *, max_grad_norm: float, batch_size: int, n: int) -> str | None:
    """Run one ghost-clipping forward/backward on a copy of `model` (no step, so nothing is spent);
    the exception text when it fails, else None."""
    trial = copy.deepcopy(model)
    try:
        with torch.random.fork_rng(devices=[]):
            private = make_private(trial, mode="ghost", noise=1.0, max_grad_norm=max_grad_norm, batch_size=batch_size,
                                   n=n, learning_rate=0.0, weight_decay=0.0, accountant="rdp", seed=0)
            from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping

            per_example = loss_fn(private.module(**inputs).logits, labels)
            DPTensorFastGradientClipping(private.module, private.optimizer, per_example, "mean").backward()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means: use per-sample hooks
        return f"{type(exc).__name__}: {exc}".strip()[:500]
    finally:
        del trial


def choose_mode(spec: PrivacySpec, model: nn.Module, inputs: dict[str, torch.Tensor], labels: torch.Tensor,
                loss_fn: LossFn, *, batch_size: int, n: int) -> tuple[str, str]:
    """("ghost" | "hooks", why): "auto" tries ghost clipping on a trial step and falls back to hooks."""
    if spec.mode == "hooks":
        return "hooks", "privacy.mode = hooks"
    failure = ghost_failure(model, inputs, labels, loss_fn, max_grad_norm=spec.max_grad_norm,
                            batch_size=batch_size, n=n)
    if failure is None:
        return "ghost", f"privacy.mode = {spec.mode}: ghost clipping ran on a trial step"
    if spec.mode == "ghost":
        raise ConfigError(f"privacy.mode 'ghost': ghost clipping fails on this model ({failure}); "
                          f"use 'hooks' or 'auto'")
    return "hooks", f"privacy.mode = auto: ghost clipping failed on a trial step ({failure}); per-sample hooks used"
