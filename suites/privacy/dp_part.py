"""DP-SGD fine-tunes (one per target epsilon) and their non-private control, through the model
factory's training capability, then their utility, membership audit and one-run audit.

The control shares the DP models' seed, data, steps and trained parameters; only the privacy
engine differs, so "what DP costs" is a paired comparison on the same test sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from audit.errors import ConfigError
from audit.models.factory import DerivedModel
from audit.run.suite import Context
from audit.models.training.recipe import FineTuneRecipe, PrivacySpec
from suites.privacy.attacks import example_losses, loss_attack
from suites.privacy.config import DpConfig
from suites.privacy.dp_data import KEY, DpData
from suites.privacy.metrics import CONTROL_NAME, AttackEvaluation, dp_name, evaluate_attack
from audit.stats.dp_audit import OneRunAudit, audit_one_run


@dataclass(frozen=True)
class TrainedModel:
    """One trained model and what was measured on it."""

    label: str                       # "non-private control" or "dp eps=8"
    derived: DerivedModel
    epsilon: float | None            # the claimed (target) epsilon; None for the control
    correct: np.ndarray              # (n_test,) correct on the test sentences
    attack: AttackEvaluation         # loss attack: training members vs non-members
    one_run: OneRunAudit | None      # from the canaries' scores

    @property
    def accounting(self) -> dict[str, Any]:
        return dict(self.derived.training.get("privacy") or {})


def base_recipe(ctx: Context, cfg: DpConfig, labels: list[str]) -> FineTuneRecipe:
    return FineTuneRecipe(base=cfg.base, task="classification", labels=tuple(labels), steps=cfg.steps,
                          batch_size=cfg.batch_size, learning_rate=cfg.learning_rate, max_length=cfg.max_length,
                          seed=ctx.seed, freeze=tuple(cfg.freeze), train_only=tuple(cfg.train_only))


def recipes(ctx: Context, cfg: DpConfig, labels: list[str]) -> list[tuple[str, float | None, FineTuneRecipe]]:
    """(label, claimed epsilon, recipe): the control first, then one DP recipe per epsilon."""
    control = base_recipe(ctx, cfg, labels)
    out: list[tuple[str, float | None, FineTuneRecipe]] = [(CONTROL_NAME, None, control)]
    for eps in cfg.epsilons:
        spec = PrivacySpec(epsilon=eps, delta=cfg.delta, max_grad_norm=cfg.max_grad_norm,
                           accountant=cfg.accountant, mode=cfg.mode, secure_mode=cfg.secure_mode)
        out.append((dp_name(eps), eps, replace(control, privacy=spec)))
    return out


def derive(ctx: Context, label: str, recipe: FineTuneRecipe, data: DpData) -> DerivedModel:
    if ctx.models is None:
        raise ConfigError(f"{KEY}: this run has no model factory, so nothing can be trained")
    from audit.models.training.finetune import validate

    training = data.training_data()
    try:
        validate(recipe, training)
    except ConfigError as exc:
        raise ConfigError(f"{KEY}: {exc}") from None
    name = f"privacy-{label.replace(' ', '-').replace('=', '')}"
    return ctx.models.derive(name, recipe, training)


def measure(label: str, model: DerivedModel, epsilon: float | None, data: DpData, cfg: DpConfig, *,
            low_fpr: list[float], delta: float) -> TrainedModel:
    """Utility, loss-attack membership audit and one-run audit of one trained model."""
    adapter = model.adapter
    probabilities = adapter.classify(data.test.texts)
    correct = probabilities.argmax(axis=1) == data.test.labels
    scores = loss_attack(example_losses(adapter, data.train), example_losses(adapter, data.non_members))
    attack = evaluate_attack(label, scores, low_fpr=low_fpr, delta=delta)
    one_run = None
    if data.canaries is not None:
        canary_scores = -example_losses(adapter, data.canaries)
        k = cfg.canaries.guesses
        one_run = audit_one_run(canary_scores, data.included, k, k, cfg.delta, cfg.canaries.p_value)
    return TrainedModel(label, model, epsilon, correct, attack, one_run)


def run_dp(ctx: Context, cfg: DpConfig, labels: list[str], data: DpData, *, low_fpr: list[float]) -> list[TrainedModel]:
    """Train (or reuse) every model, then measure each; the control comes first."""
    trained = []
    for label, epsilon, recipe in ctx.progress(recipes(ctx, cfg, labels), desc="privacy: DP fine-tunes"):
        model = derive(ctx, label, recipe, data)
        trained.append(measure(label, model, epsilon, data, cfg, low_fpr=low_fpr, delta=cfg.delta))
    return trained
