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

import numpy as np

from audit.models.adapters.base import Capability, ModelAdapter, ModelKind
from audit.errors import ConfigError
from audit.results import Finding, Severity, SuiteResult
from audit.data.labelled import check_tables
from audit.run.suite import CheckContext, Context, Suite, SuiteConfig
from suites.privacy import report, views
from suites.privacy.attacks import calibrated_attack, example_losses, loss_attack
from suites.privacy.canary_part import run_canaries
from suites.privacy import probe_report
from suites.privacy.config import AUTO, CONTROL, PARTS, CanaryAuditConfig, MembershipConfig, PrivacyConfig
from suites.privacy.data import Texts, check_disjoint, load_texts
from suites.privacy.dp_data import load_dp_data
from suites.privacy.dp_part import TrainedModel, run_dp
from suites.privacy.metrics import AUDITED, AttackEvaluation, evaluate_attack
from suites.privacy.names import METRICS
from suites.privacy.probe_study import ProbeStudy, run_probe_study

ReferenceLosses = Callable[[Texts], np.ndarray]
from suites.privacy.outcomes import HEADLINES, attack_outcomes

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
                     reference: ReferenceLosses | None) -> list[AttackEvaluation]:
    member_losses, non_member_losses = example_losses(ctx.adapter, members), example_losses(ctx.adapter, non_members)
    attacks = [loss_attack(member_losses, non_member_losses)]
    if reference is not None:
        attacks.append(calibrated_attack(member_losses, non_member_losses, reference(members), reference(non_members)))
    return [evaluate_attack(AUDITED, a, low_fpr=cfg.low_fpr, delta=cfg.delta) for a in attacks]


class PrivacySuite(Suite):
    """Privacy: membership inference, DP-SGD fine-tuning with its audit, canary exposure."""

    name = "privacy"
    metrics = METRICS
    version = "1.0"
    Config = PrivacyConfig
    headlines = HEADLINES

    def required_capabilities(self, config: SuiteConfig) -> frozenset[Capability]:
        assert isinstance(config, PrivacyConfig)
        return frozenset({Capability.LOSSES}) if config.parts != AUTO and MEMBERSHIP in config.parts else frozenset()

    def check_inputs(self, config: SuiteConfig, ctx: CheckContext) -> list[str]:
        """Only the parts that will run are checked (a classifier's config also holds the canary defaults)."""
        assert isinstance(config, PrivacyConfig)
        auto = {ModelKind.CLASSIFIER.value: [MEMBERSHIP, DP], ModelKind.CAUSAL_LM.value: [CANARIES]}
        parts = config.parts if config.parts != AUTO else auto.get(ctx.model_kind or "", list(PARTS))
        labels = ctx.model_labels if self.check_labels else None
        return [problem for part in parts for problem in
                check_tables(getattr(config, part), ctx.data, where=f"{ctx.where}.{part}", model_labels=labels)]

    def run(self, ctx: Context) -> SuiteResult:
        cfg: PrivacyConfig = ctx.config if ctx.config is not None else PrivacyConfig()
        result = self.new_result(ctx)
        parts = choose_parts(cfg, ctx.adapter)
        seconds: dict[str, float] = {}
        timed = _timer(seconds)
        sets = timed("setup", lambda: load_membership_sets(ctx, cfg.membership)) if MEMBERSHIP in parts else None
        trained: list[TrainedModel] = []
        study: ProbeStudy | None = None
        if DP in parts:
            labels = cfg.dp.labels or _labels(ctx.adapter)
            if not labels:
                raise ConfigError(f"{KEY}.dp.labels: name the class labels (the audited model is not a classifier)")
            dp_cfg = cfg.dp if cfg.dp.method == "finetune" else cfg.dp.model_copy(
                update={"canaries": CanaryAuditConfig(m=0)})       # the one-run audit is for fine-tunes
            data = load_dp_data(ctx, dp_cfg, labels, Texts.concat(list(sets)) if sets else None)
            if cfg.dp.method == "probe":
                study = timed(DP, lambda: run_probe_study(ctx, cfg.dp, labels, data, low_fpr=cfg.membership.low_fpr))
                self._report_probe(study, data, result)
            else:
                trained = timed(DP, lambda: run_dp(ctx, cfg.dp, labels, data, low_fpr=cfg.membership.low_fpr))
                self._report_dp(trained, data, result)
        evaluations: list[AttackEvaluation] = []
        if sets is not None:
            reference, described = self._reference(ctx, cfg.membership, trained, study)
            evaluations = timed(MEMBERSHIP, lambda: audit_membership(ctx, cfg.membership, *sets, reference))
            for ev in evaluations:
                report.add(result, report.attack_metrics(ev))
                result.outcomes.append(attack_outcomes(ev, *sets))
            result.findings.extend(report.skipped_findings(evaluations))
            result.details["membership"] = {"members": sets[0].source, "non_members": sets[1].source,
                                            "reference": cfg.membership.reference if reference else None,
                                            "reference_model": described, "loss_dtype": "float32"}
            if described:
                result.findings.append(Finding(severity=Severity.INFO, message=f"calibrated attack: {described}"))
        everything = evaluations + [m.attack for m in trained] + ([m.attack for m in study.models] if study else [])
        if everything:
            charts = [views.roc_chart(everything), views.auc_bars(everything), views.tpr_bars(everything)]
            result.views[:0] = [c for c in charts if c is not None]
        if CANARIES in parts:
            canary_models = timed(CANARIES, lambda: run_canaries(ctx, cfg.canaries))
            report.add(result, report.exposure_metrics(canary_models), report.shared_prompt_finding(canary_models))
            result.views.append(views.exposure_table(canary_models))
            result.details["canaries"] = {m.label: m.derived.training for m in canary_models}
        result.details["parts"] = {"ran": parts, "seconds": seconds}
        return result

    @staticmethod
    def _reference(ctx: Context, cfg: MembershipConfig, trained: list[TrainedModel],
                   study: ProbeStudy | None) -> tuple[ReferenceLosses | None, str | None]:
        """The calibrated attack's reference losses, and what that reference model is, in words."""
        if cfg.reference is None:
            return None, None
        if cfg.reference == CONTROL:
            if study is not None:
                acc = float(study.models[0].correct.mean())
                return (lambda rows: study.reference_losses(list(rows.texts), np.asarray(rows.labels, np.int64)),
                        f"reference model = the DP study's non-private control, a linear probe on the frozen base "
                        f"encoder (test accuracy {acc:.3f}), trained on sentences disjoint from the members and "
                        f"non-members; it is a different, weaker model than the audited one, so calibration removes "
                        f"example difficulty only as far as that probe sees it (not a shadow model of the audited one)")
            if not trained:
                raise ConfigError(f"{KEY}.membership.reference: 'control' needs the dp part")
            adapter = trained[0].derived.adapter
            return (lambda rows: example_losses(adapter, rows),
                    "reference model = the DP study's non-private fine-tune, trained on sentences disjoint from "
                    "the members and non-members (a different model from the audited one)")
        if ctx.models is None:
            raise ConfigError(f"{KEY}.membership.reference: this run cannot load other models")
        adapter = ctx.models.load("privacy-reference", cfg.reference, ctx.adapter.kind.value)
        return (lambda rows: example_losses(adapter, rows),
                f"reference model = {cfg.reference}, as named in the config (not trained on the members)")

    @staticmethod
    def _report_probe(study: ProbeStudy, data, result: SuiteResult) -> None:
        if len(study.models) > 1:
            result.views.append(views.epsilon_accuracy_chart(study.models))
        result.views.append(probe_report.audit_table(study))
        report.add(result, probe_report.study_metrics(study),
                   probe_report.claim_findings(study) + probe_report.control_findings(study)
                   + probe_report.study_findings(study))
        result.details["dp"] = {
            "method": "probe", "train": data.train.source, "test": data.test.source,
            "non_members": data.non_members.source, "steps": study.steps, "search": study.history,
            "release": study.release, "audit_seeds": study.audit_seeds, "seconds": study.seconds, "design_max_epsilon": study.design_max,
            "untestable": study.untestable, "half_noise_power": study.half_noise_power,
            "models": {m.label: {"derived": m.name, "epsilon": m.epsilon, "noise_multiplier": m.sigma}
                       for m in study.models},
            "audits": [{"claimed": a.claimed, "trainer": a.defect.value, "runs_per_arm": a.runs_per_arm,
                        "seconds": round(a.seconds, 3), "seconds_per_probe": a.seconds_per_probe,
                        **{k: getattr(a.result, k) for k in ("epsilon", "max_provable", "threshold", "side",
                                                             "false_positives", "false_negatives", "n_in", "n_out")}}
                       for a in study.audits + study.controls]}

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


def _timer(seconds: dict[str, float]) -> Callable:
    """Wall seconds per part, and CPU seconds (all threads) under "<part> cpu": on a shared machine
    the wall time is inflated, the CPU time much less."""
    def timed(name: str, work: Callable):
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return work()
        finally:
            seconds[name] = round(seconds.get(name, 0.0) + time.perf_counter() - started, 3)
            seconds[f"{name} cpu"] = round(seconds.get(f"{name} cpu", 0.0) + time.process_time() - cpu, 3)
    return timed
