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
from audit.run.suite import Context, Suite, SuiteConfig
from suites.bias.bbq import BBQConfig, BBQPart
from suites.bias.counterfactual import CounterfactualConfig, CounterfactualPart
from suites.bias.crows_pairs import CrowsPairsConfig, CrowsPairsPart
from suites.bias.fairness import FairnessConfig, FairnessPart
from suites.bias.parts import BiasPart
from suites.bias.templates import TemplateProbeConfig, TemplateProbePart
from suites.bias.winobias import WinoBiasConfig, WinoBiasPart
from suites.bias.names import METRICS

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
        if isinstance(value, list):
            unknown = [p for p in value if p not in PART_KEYS]
            if unknown:
                raise ValueError(f"unknown part {unknown[0]!r}; parts are {', '.join(PART_KEYS)}")
            if not value:
                raise ValueError("name at least one part, or use 'auto'")
        return value


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
    requires = frozenset({Capability.TOKENIZE})

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
