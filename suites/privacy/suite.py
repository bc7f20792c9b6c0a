"""The privacy suite: does the model leak its training data, what would DP cost, what does it buy?

Parts, chosen by the model's capabilities (`parts: auto`) or named:
- membership: loss and calibrated membership-inference attacks on the audited model (members and
  non-members named in the config), with ROC AUC, TPR at low FPR and an empirical epsilon bound;
- dp: DP-SGD fine-tunes (Opacus) to each target epsilon plus a non-private control, their test
  accuracy (paired), their membership audit and a one-run audit with canaries — the theoretical
  epsilon next to what an attack can prove;
- canaries (causal LMs): exposure of secrets inserted into a fine-tuning set.
Training goes through the run's model factory (cached artifacts, recorded as derived models).
"""

from __future__ import annotations

import time
from typing import Callable

from audit.models.adapters.base import Capability, ModelAdapter, ModelKind
from audit.errors import ConfigError
from audit.results import Finding, Severity, SuiteResult
from audit.run.suite import Context, Suite, SuiteConfig
from suites.privacy import report, views
from suites.privacy.attacks import calibrated_attack, example_losses, loss_attack
from suites.privacy.canary_part import run_canaries
from suites.privacy.config import AUTO, CONTROL, PARTS, MembershipConfig, PrivacyConfig
from suites.privacy.data import Texts, check_disjoint, load_texts
from suites.privacy.dp_data import load_dp_data
from suites.privacy.dp_part import TrainedModel, run_dp
from suites.privacy.metrics import AUDITED, AttackEvaluation, evaluate_attack
from suites.privacy.names import METRICS

MEMBERSHIP, DP, CANARIES = PARTS
KEY = "privacy"


def choose_parts(cfg: PrivacyConfig, adapter: ModelAdapter) -> list[str]:
    if cfg.parts != AUTO:
        if MEMBERSHIP in cfg.parts and Capability.LOSSES not in adapter.capabilities:
            raise ConfigError(f"{KEY}.parts: 'membership' needs per-example losses, which model "
                              f"'{adapter.name}' ({adapter.kind.value}) cannot give")
        return [p for p in PARTS if p in cfg.parts]
    if adapter.kind == ModelKind.CLASSIFIER:
        return [MEMBERSHIP, DP]
    if adapter.kind == ModelKind.CAUSAL_LM:
        return [CANARIES]
    raise ConfigError(f"{KEY}: no part runs on model '{adapter.name}' ({adapter.kind.value}) with parts: auto; "
                      "name the parts (membership needs a classifier or causal LM)")


def _labels(adapter: ModelAdapter) -> list[str] | None:
    return list(adapter.labels) if adapter.kind == ModelKind.CLASSIFIER else None


def load_membership_sets(ctx: Context, cfg: MembershipConfig) -> tuple[Texts, Texts]:
    labels = _labels(ctx.adapter)
    members = load_texts(ctx.data, cfg.members, key=f"{KEY}.membership.members", labels=labels,
                         seed=ctx.sub_seed(KEY, "members"))
    parts = [load_texts(ctx.data, ref, key=f"{KEY}.membership.non_members[{i}]", labels=labels,
                        seed=ctx.sub_seed(KEY, "non_members", i)) for i, ref in enumerate(cfg.non_members)]
    non_members = Texts.concat(parts)
    check_disjoint(members, non_members, key=f"{KEY}.membership.non_members")
    return members, non_members


def audit_membership(ctx: Context, cfg: MembershipConfig, members: Texts, non_members: Texts,
                     reference: ModelAdapter | None) -> list[AttackEvaluation]:
    member_losses, non_member_losses = example_losses(ctx.adapter, members), example_losses(ctx.adapter, non_members)
    attacks = [loss_attack(member_losses, non_member_losses)]
    if reference is not None:
        attacks.append(calibrated_attack(member_losses, non_member_losses, example_losses(reference, members),
                                         example_losses(reference, non_members)))
    return [evaluate_attack(AUDITED, a, low_fpr=cfg.low_fpr, delta=cfg.delta) for a in attacks]


class PrivacySuite(Suite):
    """Privacy: membership inference, DP-SGD fine-tuning with its audit, canary exposure."""

    name = "privacy"
    metrics = METRICS
    version = "1.0"
    Config = PrivacyConfig

    def required_capabilities(self, config: SuiteConfig) -> frozenset[Capability]:
        assert isinstance(config, PrivacyConfig)
        return frozenset({Capability.LOSSES}) if config.parts != AUTO and MEMBERSHIP in config.parts else frozenset()

    def run(self, ctx: Context) -> SuiteResult:
        cfg: PrivacyConfig = ctx.config if ctx.config is not None else PrivacyConfig()
        result = self.new_result(ctx)
        parts = choose_parts(cfg, ctx.adapter)
        seconds: dict[str, float] = {}
        timed = _timer(seconds)
        sets = timed("setup", lambda: load_membership_sets(ctx, cfg.membership)) if MEMBERSHIP in parts else None
        trained: list[TrainedModel] = []
        if DP in parts:
            labels = cfg.dp.labels or _labels(ctx.adapter)
            if not labels:
                raise ConfigError(f"{KEY}.dp.labels: name the class labels (the audited model is not a classifier)")
            data = load_dp_data(ctx, cfg.dp, labels, Texts.concat(list(sets)) if sets else None)
            trained = timed(DP, lambda: run_dp(ctx, cfg.dp, labels, data, low_fpr=cfg.membership.low_fpr))
            self._report_dp(trained, data, result)
        evaluations: list[AttackEvaluation] = []
        if sets is not None:
            reference = self._reference(ctx, cfg.membership, trained)
            evaluations = timed(MEMBERSHIP, lambda: audit_membership(ctx, cfg.membership, *sets, reference))
            for ev in evaluations:
                report.add(result, report.attack_metrics(ev))
            result.details["membership"] = {"members": sets[0].source, "non_members": sets[1].source,
                                            "reference": cfg.membership.reference if reference else None}
        everything = evaluations + [m.attack for m in trained]
        if everything:
            result.views[:0] = [views.roc_chart(everything), views.auc_bars(everything), views.tpr_bars(everything)]
        if CANARIES in parts:
            canary_models = timed(CANARIES, lambda: run_canaries(ctx, cfg.canaries))
            report.add(result, report.exposure_metrics(canary_models))
            result.views.append(views.exposure_table(canary_models))
            result.details["canaries"] = {m.label: m.derived.training for m in canary_models}
        result.details["parts"] = {"ran": parts, "seconds": seconds}
        return result

    @staticmethod
    def _reference(ctx: Context, cfg: MembershipConfig, trained: list[TrainedModel]) -> ModelAdapter | None:
        if cfg.reference is None:
            return None
        if cfg.reference == CONTROL:
            if not trained:
                raise ConfigError(f"{KEY}.membership.reference: 'control' needs the dp part")
            return trained[0].derived.adapter
        if ctx.models is None:
            raise ConfigError(f"{KEY}.membership.reference: this run cannot load other models")
        return ctx.models.load("privacy-reference", cfg.reference, ctx.adapter.kind.value)

    @staticmethod
    def _report_dp(trained: list[TrainedModel], data, result: SuiteResult) -> None:
        report.add(result, report.dp_metrics(trained), report.claim_findings(trained))
        if len(trained) > 1:
            result.findings.append(report.summary_finding(trained))
            result.views.append(views.epsilon_accuracy_chart(trained))
        result.views.append(views.recipe_table(trained))
        if any(m.one_run for m in trained):
            result.views.append(views.one_run_table(trained))
        result.details["dp"] = {
            "train": data.train.source, "test": data.test.source, "non_members": data.non_members.source,
            "canaries": {"m": 0 if data.canaries is None else len(data.canaries), "included": int(data.included.sum())},
            "models": {m.label: {"derived": m.derived.name, "training": m.derived.training} for m in trained}}
        if not any(f.severity == Severity.FAIL for f in result.findings):
            result.findings.append(Finding(severity=Severity.INFO, message="no DP model's claimed epsilon is "
                                           "contradicted by the membership or one-run audits"))


def _timer(seconds: dict[str, float]) -> Callable:
    def timed(name: str, work: Callable):
        started = time.perf_counter()
        try:
            return work()
        finally:
            seconds[name] = round(seconds.get(name, 0.0) + time.perf_counter() - started, 3)
    return timed
