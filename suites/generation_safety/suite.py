"""The generation_safety suite: what a causal LM writes, scored by offline detectors whose error rates
are measured on shipped calibration sets and shown beside every rate.

Parts: toxicity (k sampled continuations), refusal (harmful vs benign look-alikes), injection
(a canary echoing cannot produce), leakage (planted secrets, spontaneous PII). Every output is
classed refusal / compliance_attempt / degenerate / unscored; every rate carries n, n_unscored
and a CI; per-prompt outcomes are stored for regression comparisons.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from audit.errors import ConfigError
from audit.models.adapters.base import Capability, ModelAdapter
from audit.results import Finding, Metric, Severity, SuiteResult
from audit.run.suite import Context, Suite, SuiteConfig
from suites.generation_safety import views
from suites.generation_safety.calibration import CANARY, PII, REFUSAL, TOXICITY, Calibrated, calibrate, replaced
from suites.generation_safety.config import DetectorModel, GenerationSafetyConfig
from suites.generation_safety.injection_part import run_injection
from suites.generation_safety.leakage_part import run_leakage
from suites.generation_safety.metrics import (DEGENERATE_SHARE, DETECTOR_KEY, DETECTOR_SENSITIVITY,
                                              DETECTOR_SPECIFICITY, NOT_HARM, PART_KEY, UNVERIFIED)
from suites.generation_safety.prompts import load_prompts
from suites.generation_safety.refusal_part import run_refusal
from suites.generation_safety.scoring import Output, degenerate_metric, settings_dict, worst_examples
from suites.generation_safety.toxicity_part import run_toxicity
from suites.generation_safety.names import METRICS

KEY = "generation_safety"


def detector_for(ctx: Context, name: str, cfg: DetectorModel | None, key: str) -> Calibrated:
    if cfg is None:
        return calibrate(name)
    if ctx.models is None:
        raise ConfigError(f"{key}.model: this run cannot load other models")
    return replaced(name, ctx.models.load(f"gensafety-{name}-detector", cfg.model), cfg, key)


def detector_metrics(detectors: list[Calibrated]) -> list[Metric]:
    out = []
    for d in detectors:
        for name, est in ((DETECTOR_SENSITIVITY, d.accuracy.sensitivity), (DETECTOR_SPECIFICITY, d.accuracy.specificity)):
            out.append(Metric.from_estimate(name, est, group={DETECTOR_KEY: d.info.name}, higher_is_better=True,
                                            unit="proportion", n_unscored=0,
                                            description=f"{d.info.name} {d.info.version} on its calibration set "
                                                        f"({d.calibration.name}, sha256 {d.calibration.sha256[:12]})"))
    return out


class GenerationSafetySuite(Suite):
    """Generation safety of causal LMs: toxicity, refusal/over-refusal, prompt injection, leakage."""

    name = "generation_safety"
    metrics = METRICS
    version = "1.0"
    Config = GenerationSafetyConfig
    requires = frozenset({Capability.GENERATE})

    def required_capabilities(self, config: SuiteConfig) -> frozenset[Capability]:
        return self.requires

    def run(self, ctx: Context) -> SuiteResult:
        cfg: GenerationSafetyConfig = ctx.config if ctx.config is not None else GenerationSafetyConfig()
        result = self.new_result(ctx)
        adapter: ModelAdapter = ctx.adapter
        seed_of: Callable[..., int] = lambda *keys: ctx.sub_seed(KEY, *keys)
        refusal = detector_for(ctx, REFUSAL, cfg.refusal.detector, f"{KEY}.refusal.detector")
        canary = calibrate(CANARY)
        used: dict[str, Calibrated] = {REFUSAL: refusal, CANARY: canary}
        parts: dict[str, list[Output]] = {}
        details: dict[str, Any] = {"profile": cfg.profile, "statement": NOT_HARM, "parts": {}}
        for part in cfg.parts:
            started, cpu = time.perf_counter(), time.process_time()
            metrics, outcomes, outputs, worst, info, detector = self._part(ctx, cfg, part, refusal, canary, seed_of, used)
            parts[part] = outputs
            result.metrics += metrics + [degenerate_metric(DEGENERATE_SHARE, outputs, {PART_KEY: part})]
            result.outcomes += outcomes
            examples = worst_examples(worst, part)
            result.examples += examples
            result.views += [views.rates_table(part, metrics, detector), views.worst_view(part, examples)]
            info.update({"n_outputs": len(outputs), "seconds": round(time.perf_counter() - started, 2),
                         "cpu_seconds": round(time.process_time() - cpu, 2),
                         "outputs": [{"id": o.id, "class": o.cls, "flag": o.flag} for o in outputs]})
            details["parts"][part] = info
        detectors = list(used.values())
        result.metrics += detector_metrics(detectors)
        result.views[:0] = [views.headline_bars(result.metrics), views.class_table(parts),
                            views.detector_table(detectors)]
        details["detectors"] = {name: d.as_dict() for name, d in used.items()}
        result.details.update(details)
        result.findings.append(Finding(severity=Severity.INFO, message=NOT_HARM))
        if "leakage" in cfg.parts:
            result.findings.append(Finding(severity=Severity.INFO, message=f"Spontaneous PII hits are {UNVERIFIED}: "
                                           "the audit cannot tell a memorised real number from an invented one."))
        return result

    @staticmethod
    def _part(ctx: Context, cfg: GenerationSafetyConfig, part: str, refusal: Calibrated, canary: Calibrated,
              seed_of: Callable[..., int], used: dict[str, Calibrated]) -> tuple:
        adapter = ctx.adapter
        if part == "toxicity":
            prompts = load_prompts(ctx.data, cfg.toxicity.prompts, "toxicity", ["stratum", "text"],
                                   key=f"{KEY}.toxicity.prompts")
            detector = detector_for(ctx, TOXICITY, cfg.toxicity.detector, f"{KEY}.toxicity.detector")
            used[TOXICITY] = detector
            r = run_toxicity(adapter, cfg.toxicity, prompts, detector, refusal, seed_of)
            return r.metrics, r.outcomes, r.outputs, r.worst, _info(prompts, r.settings, k=cfg.toxicity.k), detector
        if part == "refusal":
            pairs = load_prompts(ctx.data, cfg.refusal.pairs, "refusal", ["category", "harmful", "benign"],
                                 key=f"{KEY}.refusal.pairs")
            r = run_refusal(adapter, cfg.refusal, pairs, refusal, cfg.chat)
            return r.metrics, r.outcomes, r.outputs, r.worst, _info(pairs, r.settings), refusal
        if part == "injection":
            tasks = load_prompts(ctx.data, cfg.injection.tasks, "injection",
                                 ["task", "instruction", "document", "keywords"], key=f"{KEY}.injection.tasks")
            r = run_injection(adapter, cfg.injection, tasks, canary, refusal, cfg.chat,
                              lambda *keys: int(ctx.rng(KEY, *keys).integers(1 << 30)))
            info = _info(tasks, r.settings, placements=cfg.injection.placements, variants=cfg.injection.variants)
            return r.metrics, r.outcomes, r.outputs, r.worst, info, canary
        elicitation = load_prompts(ctx.data, cfg.leakage.elicitation, "elicitation", ["kind", "text"],
                                   key=f"{KEY}.leakage.elicitation")
        pii = detector_for(ctx, PII, cfg.leakage.detector, f"{KEY}.leakage.detector")
        used[PII] = pii
        r = run_leakage(adapter, cfg.leakage, elicitation, canary, pii, refusal, cfg.chat,
                        lambda *keys: ctx.rng(KEY, *keys), seed_of)
        info = _info(elicitation, r.settings, sampling=settings_dict(r.sampling), k=cfg.leakage.elicitation_k,
                     secrets=cfg.leakage.secrets, per_kind=cfg.leakage.per_kind)
        return r.metrics, r.outcomes, r.outputs, r.worst, info, canary


def _info(prompts: Any, settings: Any, **extra: Any) -> dict[str, Any]:
    return {"prompt_set": prompts.path, "prompt_set_sha256": prompts.sha256, "n_prompts": len(prompts.rows),
            "generation": settings_dict(settings), **extra}
