"""The DP study on cached features: a linear head on the frozen base encoder, trained to convergence
(non-private control within `tolerance` of an L-BFGS logistic-regression probe), DP-SGD at each
target ε, and the multi-run audit of the trainer that made them.

The frozen encoder runs once per sentence (the adapter's batched, cached `embed`, float32 mean-pooled
features); every training after that is the vectorised probe trainer, microseconds per step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.errors import ConfigError
from audit.models.adapters.base import ModelAdapter
from audit.models.training.dp import noise_multiplier, quiet_opacus
from audit.models.training.probe import MEASUREMENT_ONLY, Defect, ProbeRuns, ProbeSchedule, probe_losses, \
    probe_predictions, train_probes
from audit.models.training.recipe import PrivacySpec
from audit.run.suite import Context
from audit.stats.multi_run_audit import calibration_split, gaussian_power, max_provable_epsilon, runs_needed, \
    standardised_shift
from suites.privacy.attacks import loss_attack
from suites.privacy.config import DpConfig
from suites.privacy.dp_data import KEY, DpData
from suites.privacy.metrics import CONTROL_NAME, AttackEvaluation, dp_name, evaluate_attack
from suites.privacy.probe_audit import TrainerAudit, audit_trainer

ENCODER_NAME = "privacy-encoder"


@dataclass(frozen=True)
class ProbeModel:
    label: str
    name: str                     # derived-model name (the metrics' subject)
    epsilon: float | None
    sigma: float | None
    correct: np.ndarray           # (n_test,)
    attack: AttackEvaluation


@dataclass
class ProbeStudy:
    models: list[ProbeModel]                      # control first
    reference_correct: np.ndarray                 # the well-trained (L-BFGS) probe on the same test set
    steps: int
    history: list[tuple[int, float]]              # (steps, control accuracy) while searching
    converged: bool
    audits: list[TrainerAudit]                    # the trainer as configured, one per claim within reach
    controls: list[TrainerAudit]                  # broken trainers at the smallest epsilon
    untestable: list[float]                       # claims above what the design can prove
    design_max: float
    half_noise_power: dict[str, Any] | None
    release: str
    audit_seeds: str
    seconds: dict[str, float] = field(default_factory=dict)
    control_runs: ProbeRuns | None = None
    encoder: ModelAdapter | None = None

    def reference_losses(self, texts: list[str], labels: np.ndarray) -> np.ndarray:
        """Losses under the non-private control (the calibrated attack's reference model)."""
        assert self.encoder is not None and self.control_runs is not None
        return probe_losses(self.control_runs, self.encoder.embed(texts), labels)[0]


def derived_name(label: str) -> str:
    return f"privacy-{label.replace(' ', '-').replace('=', '')}"


def well_trained_probe(x: np.ndarray, y: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Predictions of an L-BFGS logistic regression (sklearn, C = 1, to convergence)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=5000).fit(x, y).predict(x_test)


def _audit_design_max(cfg: DpConfig) -> float:
    runs = cfg.probe.audit.runs
    held = runs - calibration_split(runs, 0.5)
    return max_provable_epsilon(held, held, cfg.delta, cfg.probe.audit.confidence)


def run_probe_study(ctx: Context, cfg: DpConfig, labels: list[str], data: DpData, *,
                    low_fpr: list[float]) -> ProbeStudy:
    if ctx.models is None:
        raise ConfigError(f"{KEY}: this run has no model factory, so the base encoder cannot be loaded")
    pc, seconds = cfg.probe, {}
    started = time.perf_counter()
    encoder = ctx.models.load(ENCODER_NAME, cfg.base, "encoder")
    x_train, x_test = encoder.embed(list(data.train.texts)), encoder.embed(list(data.test.texts))
    x_non = encoder.embed(list(data.non_members.texts))
    y_train, y_test, y_non = (np.asarray(t.labels, np.int64) for t in (data.train, data.test, data.non_members))
    seconds["features"] = time.perf_counter() - started
    n, k = x_train.shape[0], len(labels)
    if n < pc.batch_size:
        raise ConfigError(f"{KEY}.probe.batch_size: {pc.batch_size} exceeds the {n} training examples")
    secure, seed = pc.secure_mode, (None if pc.secure_mode else ctx.sub_seed(KEY, "probe"))
    reference_correct = well_trained_probe(x_train, y_train, x_test) == y_test
    target = float(reference_correct.mean()) - pc.tolerance

    def schedule(steps: int) -> ProbeSchedule:
        return ProbeSchedule(steps=steps, batch_size=pc.batch_size, learning_rate=pc.learning_rate,
                             max_grad_norm=cfg.max_grad_norm)

    started = time.perf_counter()
    steps, history = pc.steps, []
    while True:
        control = train_probes(x_train, y_train, k, schedule(steps), noise_multipliers=np.zeros(1),
                               private=np.zeros(1, bool), seed=seed, secure=secure)
        accuracy = float((probe_predictions(control, x_test)[0] == y_test).mean())
        history.append((steps, accuracy))
        if accuracy >= target or steps * 2 > pc.max_steps:
            break
        steps *= 2
    seconds["control"] = time.perf_counter() - started
    q = pc.batch_size / n
    with quiet_opacus():
        sigmas = [noise_multiplier(PrivacySpec(epsilon=e, delta=cfg.delta, max_grad_norm=cfg.max_grad_norm,
                                               accountant=cfg.accountant), q, steps) for e in cfg.epsilons]
    started = time.perf_counter()
    dp = train_probes(x_train, y_train, k, schedule(steps), noise_multipliers=np.array(sigmas),
                      private=np.ones(len(sigmas), bool), defect=Defect(pc.defect), seed=seed, secure=secure)
    seconds["dp"] = time.perf_counter() - started
    models = [_measure(CONTROL_NAME, None, None, control, 0, x_train, y_train, x_test, y_test, x_non, y_non,
                       low_fpr, cfg.delta)]
    for r, (eps, sigma) in enumerate(zip(cfg.epsilons, sigmas)):
        models.append(_measure(dp_name(eps), eps, sigma, dp, r, x_train, y_train, x_test, y_test, x_non, y_non,
                               low_fpr, cfg.delta))
    started = time.perf_counter()
    design_max = _audit_design_max(cfg)
    ac = pc.audit
    common = dict(population=n, delta=cfg.delta, runs_per_arm=ac.runs, examples=ac.examples, dims=ac.dims,
                  confidence=ac.confidence, seed=ac.seed)
    audits, untestable = [], []
    for eps, sigma in sorted(zip(cfg.epsilons, sigmas)):
        if design_max <= eps:
            untestable.append(eps)
            continue
        audits.append(audit_trainer(x_train, y_train, k, schedule(steps), sigma=sigma, claimed=eps,
                                    defect=Defect(pc.defect), **common))
    smallest, sigma0 = min(zip(cfg.epsilons, sigmas))
    controls = [audit_trainer(x_train, y_train, k, schedule(steps), sigma=sigma0, claimed=smallest,
                              defect=Defect(d), **common) for d in ac.controls] if design_max > smallest else []
    seconds["audit"] = time.perf_counter() - started
    power = None
    half = [c for c in controls if c.defect == Defect.HALF_NOISE]
    if half:
        shift = standardised_shift(half[0].scores_in, half[0].scores_out)
        with quiet_opacus():
            true_eps = _epsilon_of(sigma0 / 2, q, steps, cfg)
        power = {"claimed": smallest, "runs_per_arm": ac.runs, "standardised_shift": shift,
                 "accountant_epsilon_of_half_noise": true_eps,
                 "power": gaussian_power(shift, ac.runs, smallest, cfg.delta, draws=200, confidence=ac.confidence),
                 "runs_per_arm_needed": runs_needed(shift, smallest, cfg.delta, confidence=ac.confidence),
                 "method": "Gaussian model of the audit score fitted to this run's half-noise arms"}
    return ProbeStudy(models=models, reference_correct=reference_correct, steps=steps, history=history,
                      converged=history[-1][1] >= target, audits=audits, controls=controls, untestable=untestable,
                      design_max=design_max, half_noise_power=power,
                      release="secure randomness (os.urandom)" if secure else MEASUREMENT_ONLY,
                      audit_seeds="secret (os.urandom)" if ac.seed is None else f"seeded from {ac.seed}",
                      seconds={k2: round(v, 3) for k2, v in seconds.items()}, control_runs=control, encoder=encoder)


def _epsilon_of(sigma: float, q: float, steps: int, cfg: DpConfig) -> float:
    from opacus.accountants import create_accountant

    accountant = create_accountant(cfg.accountant)
    accountant.history = [(sigma, q, steps)]
    return float(accountant.get_epsilon(delta=cfg.delta))


def _measure(label: str, eps: float | None, sigma: float | None, runs: ProbeRuns, r: int, x_train, y_train,
             x_test, y_test, x_non, y_non, low_fpr: list[float], delta: float) -> ProbeModel:
    correct = probe_predictions(runs, x_test)[r] == y_test
    scores = loss_attack(probe_losses(runs, x_train, y_train)[r], probe_losses(runs, x_non, y_non)[r])
    return ProbeModel(label, derived_name(label), eps, sigma, correct,
                      evaluate_attack(label, scores, low_fpr=low_fpr, delta=delta))
