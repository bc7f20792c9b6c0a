"""The data of the DP part: the training set, the one-run audit's canaries, test and non-members.

Canaries (Steinke et al. 2023) are training-pool sentences with a wrong label, each put into the
training set with probability ½ by a seeded coin; the trained model's loss on them is the score.
The training set excludes every example the membership part evaluates, so the non-private control
can serve as the reference model of the calibrated attack on the audited model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.errors import ConfigError
from audit.run.suite import Context
from audit.models.training.recipe import TrainingData
from suites.privacy.config import DpConfig
from suites.privacy.data import Texts, check_disjoint, load_texts

KEY = "privacy.dp"


@dataclass(frozen=True)
class DpData:
    train: Texts                  # the members of the trained models (canaries not included)
    canaries: Texts | None        # mislabelled canaries
    included: np.ndarray          # (m,) canary i is in the training set
    test: Texts                   # utility
    non_members: Texts            # for the trained models' membership audit

    def training_data(self) -> TrainingData:
        texts, labels = list(self.train.texts), [int(v) for v in self.train.labels]
        if self.canaries is not None:
            keep = np.flatnonzero(self.included)
            texts += [self.canaries.texts[i] for i in keep]
            labels += [int(self.canaries.labels[i]) for i in keep]
        return TrainingData(texts=tuple(texts), labels=tuple(labels))


def mislabel(rows: Texts, n_labels: int) -> Texts:
    """Each row's label moved to the next label (a wrong one for sure)."""
    return Texts(rows.ids, rows.texts, (rows.labels + 1) % n_labels, rows.source)


def load_dp_data(ctx: Context, cfg: DpConfig, labels: list[str], exclude: Texts | None) -> DpData:
    train = load_texts(ctx.data, cfg.train, key=f"{KEY}.train", labels=labels,
                       seed=ctx.sub_seed(KEY, "train"), exclude=exclude)
    canaries, included = None, np.zeros(0, bool)
    if cfg.canaries.m:
        taken = train if exclude is None else Texts.concat([train, exclude])
        pool = load_texts(ctx.data, cfg.train, key=f"{KEY}.train", labels=labels, seed=ctx.sub_seed(KEY, "canaries"),
                          limit=cfg.canaries.m, exclude=taken)
        if len(pool) < cfg.canaries.m:
            raise ConfigError(f"{KEY}.canaries.m: {cfg.canaries.m} canaries asked for but only {len(pool)} unused "
                              f"rows are left in {cfg.train.path}")
        if 2 * cfg.canaries.guesses > cfg.canaries.m:
            raise ConfigError(f"{KEY}.canaries.guesses: 2 x {cfg.canaries.guesses} guesses exceed m = {cfg.canaries.m}")
        canaries = mislabel(pool, len(labels))
        included = ctx.rng(KEY, "canary-coins").random(len(pool)) < 0.5
    test = load_texts(ctx.data, cfg.test, key=f"{KEY}.test", labels=labels, seed=ctx.sub_seed(KEY, "test"))
    non_members = load_texts(ctx.data, cfg.non_members, key=f"{KEY}.non_members", labels=labels,
                             seed=ctx.sub_seed(KEY, "non_members"))
    seen = train if canaries is None else Texts.concat([train, canaries])
    check_disjoint(seen, test, key=f"{KEY}.test")
    check_disjoint(seen, non_members, key=f"{KEY}.non_members")
    data = DpData(train, canaries, included, test, non_members)
    check_sizes(cfg, len(data.training_data()))
    return data


def check_sizes(cfg: DpConfig, n: int) -> None:
    """The bad inputs that would otherwise surface deep inside Opacus."""
    if n < cfg.batch_size:
        raise ConfigError(f"{KEY}.train: {n} training examples are fewer than {KEY}.batch_size = {cfg.batch_size}")
    if cfg.delta >= 1.0 / n:
        raise ConfigError(f"{KEY}.delta: {cfg.delta:g} is not below 1/n = 1/{n} ({1.0 / n:.3g}); a delta that "
                          "large allows releasing whole training examples — use e.g. 1e-5")
