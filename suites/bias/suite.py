"""The bias suite: six independent parts, each chosen by the adapter's capabilities.

An empty config runs every part the model supports ("auto"); unsupported parts become info
findings. A part named explicitly in `parts` that cannot run on the model is a ConfigError.
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import Field, field_validator

from audit.models.adapters.base import Capability
from audit.errors import ConfigError
from audit.results import Finding, Severity, SuiteResult
from audit.errors import AuditUserError
from audit.run.suite import CheckContext, Context, Suite, SuiteConfig, check_part_names
from suites.bias.bbq import BIAS_SCORE_AMBIG, BIAS_SCORE_DISAMBIG, BBQConfig, BBQPart
from suites.bias.counterfactual import FLIP_RATE, CounterfactualConfig, CounterfactualPart
from suites.bias.crows_pairs import METRIC as CROWS_METRIC, CrowsPairsConfig, CrowsPairsPart
from suites.bias.fairness import (KEY as FAIRNESS_KEY, DP_DIFFERENCE, EO_DIFFERENCE, FairnessConfig, FairnessPart,
                                  read_fairness_data)
from suites.bias.names import METRICS
from suites.bias.parts import BiasPart
from suites.bias.templates import ASSOCIATION as TEMPLATES_ASSOCIATION, TemplateProbeConfig, TemplateProbePart
from suites.bias.winobias import PRO_PREFERENCE, WinoBiasConfig, WinoBiasPart

# one headline per part: what a regression check tests first and the compliance report leads with
HEADLINES = (TEMPLATES_ASSOCIATION, CROWS_METRIC, PRO_PREFERENCE, BIAS_SCORE_AMBIG, BIAS_SCORE_DISAMBIG, FLIP_RATE,
             DP_DIFFERENCE, EO_DIFFERENCE)

AUTO = "auto"
# The order parts run and report in; each class is stateless, instantiated per run.
PART_CLASSES: tuple[type, ...] = (TemplateProbePart, CrowsPairsPart, WinoBiasPart, BBQPart,
                                  CounterfactualPart, FairnessPart)
PART_KEYS: tuple[str, ...] = tuple(cls.key for cls in PART_CLASSES)


class BiasConfig(SuiteConfig):
    parts: list[str] | Literal["auto"] = Field(
        AUTO, description="'auto' = every part the model supports; or a list of part keys")
    templates: TemplateProbeConfig = Field(default_factory=TemplateProbeConfig)
    crows_pairs: CrowsPairsConfig = Field(default_factory=CrowsPairsConfig)
    winobias: WinoBiasConfig = Field(default_factory=WinoBiasConfig)
    bbq: BBQConfig = Field(default_factory=BBQConfig)
    counterfactual: CounterfactualConfig = Field(default_factory=CounterfactualConfig)
    fairness: FairnessConfig = Field(default_factory=FairnessConfig)

    @field_validator("parts")
    @classmethod
    def _known_parts(cls, value: list[str] | str) -> list[str] | str:
        return check_part_names(value, PART_KEYS)


def choose_parts(config: BiasConfig, parts: list[BiasPart], adapter) -> tuple[list[BiasPart], dict[str, str]]:
    """(parts to run, {key: why not} for parts left out) — explicit but unsupported is a ConfigError."""
    wanted = PART_KEYS if config.parts == AUTO else tuple(config.parts)
    chosen, skipped = [], {}
    for part in parts:
        if part.key not in wanted:
            continue
        reason = part.unsupported_reason(adapter)
        if reason is None:
            chosen.append(part)
        elif config.parts == AUTO:
            skipped[part.key] = reason
        else:
            raise ConfigError(f"bias.parts: part '{part.key}' cannot run on model '{adapter.name}' "
                              f"({adapter.kind.value}): {reason}")
    return chosen, skipped


class BiasSuite(Suite):
    """Bias: template probes, CrowS-Pairs, WinoBias, BBQ, counterfactual swaps, group fairness."""

    name = "bias"
    metrics = METRICS
    version = "1.0"
    Config = BiasConfig
    headlines = HEADLINES
    requires = frozenset({Capability.TOKENIZE})

    def check_inputs(self, config: SuiteConfig, ctx: CheckContext) -> list[str]:
        """Every file reference resolved; the fairness table read in full when it would run (a classifier)."""
        assert isinstance(config, BiasConfig)
        problems = super().check_inputs(config, ctx)
        wanted = config.parts == AUTO or FAIRNESS_KEY in config.parts
        if wanted and ctx.model_kind == "classifier" and not problems:
            try:
                read_fairness_data(ctx.data, config.fairness)
            except AuditUserError as exc:
                problems.append(str(exc))
        return problems

    def run(self, ctx: Context) -> SuiteResult:
        cfg: BiasConfig = ctx.config if ctx.config is not None else BiasConfig()
        result = self.new_result(ctx)
        chosen, skipped = choose_parts(cfg, [cls() for cls in PART_CLASSES], ctx.adapter)
        for key, reason in skipped.items():
            result.findings.append(Finding(severity=Severity.INFO,
                                           message=f"bias part '{key}' skipped on this model: {reason}",
                                           evidence={"part": key}))
        seconds: dict[str, float] = {}
        for part in chosen:
            started = time.perf_counter()
            part.run(ctx, getattr(cfg, part.key), result)
            seconds[part.key] = round(time.perf_counter() - started, 3)
        result.details["parts"] = {"ran": [p.key for p in chosen], "skipped": skipped, "seconds": seconds}
        return result
