"""Canary exposure for causal LMs (Carlini et al. 2019, "The Secret Sharer").

Random secrets of a fixed format (e.g. a phone number) are put into a fine-tuning set, each
`repeats` times; `fresh` secrets of the same format are never inserted. After fine-tuning
(non-privately, and with DP-SGD when an epsilon is given), each secret's log-likelihood after the
template's prefix is ranked among `candidates` random secrets: exposure (bits) says how much the
model prefers it. Greedy generation from the same prefix says whether the model writes the secret
out (`extraction`, through the adapter's `generate`). Each secret has its own invented owner when
the template has an `{owner}` slot, hence its own prefix. Inserted secrets should be exposed (and
extracted) more than fresh ones; DP should close the gap.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from audit.models.adapters.base import ModelAdapter
from audit.errors import ConfigError
from audit.models.factory import DerivedModel
from audit.run.suite import Context
from audit.models.training.recipe import FineTuneRecipe, PrivacySpec, TrainingData
from suites.privacy.config import SecretConfig
from suites.privacy.data import load_texts
from suites.privacy.exposure import Exposure, exposure, random_secret, secret_space_size
from suites.privacy.extraction import OWNER, Extraction, draw_owners, fill, greedy_extraction, prefix_of
from suites.privacy.metrics import CONTROL_NAME, dp_name

KEY = "privacy.canaries"
FRESH = 0   # `repeats` of a never-inserted secret


@dataclass(frozen=True)
class Secret:
    text: str
    repeats: int
    owner: str = ""          # fills the template's {owner} slot (empty when it has none)


@dataclass(frozen=True)
class SecretResult:
    secret: Secret
    exposure: Exposure
    teacher_forced: bool     # every token of the secret is the argmax after the prefix (loglikelihood)
    extraction: Extraction | None = None   # greedy generation from the prefix (adapter.generate)

    @property
    def extracted(self) -> bool:
        """Greedy generation writes the secret out (False when generation was not run)."""
        return self.extraction is not None and self.extraction.extracted


@dataclass(frozen=True)
class CanaryModel:
    label: str
    derived: DerivedModel
    epsilon: float | None
    results: list[SecretResult]


def draw_secrets(cfg: SecretConfig, rng: np.random.Generator) -> list[Secret]:
    """One secret per `repeats` value plus `fresh` baseline secrets, all distinct."""
    wanted = [*cfg.repeats, *([FRESH] * cfg.fresh)]
    seen: set[str] = set()
    secrets = []
    for repeats in wanted:
        text = random_secret(cfg.secret_format, rng)
        while text in seen:
            text = random_secret(cfg.secret_format, rng)
        seen.add(text)
        secrets.append(Secret(text, repeats))
    if OWNER in cfg.template:          # drawn after the secrets: the secrets do not depend on the template
        secrets = [replace(s, owner=o) for s, o in zip(secrets, draw_owners(len(secrets), rng))]
    return secrets


def training_texts(cfg: SecretConfig, filler: list[str], secrets: list[Secret], rng: np.random.Generator) -> TrainingData:
    texts = list(filler) + [fill(cfg.template, s.owner, s.text) for s in secrets for _ in range(s.repeats)]
    order = rng.permutation(len(texts))
    return TrainingData(texts=tuple(texts[i] for i in order))


def measure_secrets(adapter: ModelAdapter, cfg: SecretConfig, secrets: list[Secret],
                    rng: np.random.Generator) -> list[SecretResult]:
    """Rank every secret among the same `candidates` random secrets, each scored after the secret's own
    prefix (one batched scoring call; |distinct prefixes| x candidates + secrets requests)."""
    space = secret_space_size(cfg.secret_format)
    taken = {s.text for s in secrets}
    candidates: list[str] = []
    while len(candidates) < cfg.candidates:
        text = random_secret(cfg.secret_format, rng)
        if text not in taken:
            candidates.append(text)
    prefixes = [prefix_of(cfg.template, s.owner) for s in secrets]
    distinct = list(dict.fromkeys(prefixes))
    scored = adapter.loglikelihood([(p, c) for p in distinct for c in candidates]
                                   + [(p, s.text) for p, s in zip(prefixes, secrets)])
    n = len(candidates)
    losses = {p: np.asarray([-r.logprob for r in scored[i * n:(i + 1) * n]]) for i, p in enumerate(distinct)}
    return [SecretResult(s, exposure(-r.logprob, losses[p], space), bool(r.is_greedy))
            for s, p, r in zip(secrets, prefixes, scored[len(distinct) * n:])]


def extract_secrets(adapter: ModelAdapter, cfg: SecretConfig, results: list[SecretResult]) -> list[SecretResult]:
    """The results with each secret's greedy extraction added (one batched generate call)."""
    found = greedy_extraction(adapter, [prefix_of(cfg.template, r.secret.owner) for r in results],
                              [r.secret.text for r in results])
    return [replace(r, extraction=e) for r, e in zip(results, found)]


def run_canaries(ctx: Context, cfg: SecretConfig) -> list[CanaryModel]:
    if ctx.models is None:
        raise ConfigError(f"{KEY}: this run has no model factory, so nothing can be trained")
    base = cfg.base or ctx.model_ref
    if base is None:
        raise ConfigError(f"{KEY}.base: name the causal LM to fine-tune")
    filler = load_texts(ctx.data, cfg.train, key=f"{KEY}.train", labels=None, seed=ctx.sub_seed(KEY, "train"))
    secrets = draw_secrets(cfg, ctx.rng(KEY, "secrets"))
    data = training_texts(cfg, filler.texts, secrets, ctx.rng(KEY, "order"))
    if len(data) < cfg.batch_size:
        raise ConfigError(f"{KEY}.train: {len(data)} training texts are fewer than {KEY}.batch_size = {cfg.batch_size}")
    if cfg.epsilon is not None and cfg.delta >= 1.0 / len(data):
        raise ConfigError(f"{KEY}.delta: {cfg.delta:g} is not below 1/n = 1/{len(data)}")
    recipe = FineTuneRecipe(base=base, task="causal_lm", steps=cfg.steps, batch_size=cfg.batch_size,
                            learning_rate=cfg.learning_rate, max_length=cfg.max_length, seed=ctx.seed)
    plans: list[tuple[str, float | None, FineTuneRecipe]] = [(CONTROL_NAME, None, recipe)]
    if cfg.epsilon is not None:
        plans.append((dp_name(cfg.epsilon), cfg.epsilon,
                      replace(recipe, privacy=PrivacySpec(epsilon=cfg.epsilon, delta=cfg.delta))))
    out = []
    for label, epsilon, plan in ctx.progress(plans, desc="privacy: canary fine-tunes"):
        name = f"canaries-{label.replace(' ', '-').replace('=', '')}"
        derived = ctx.models.derive(name, plan, data)
        results = measure_secrets(derived.adapter, cfg, secrets, ctx.rng(KEY, "candidates"))
        results = extract_secrets(derived.adapter, cfg, results)
        out.append(CanaryModel(label, derived, epsilon, results))
    return out
