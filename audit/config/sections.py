"""Config blocks for regression checks, compressed model variants and the compliance report.

Kept apart from audit/config.py (which imports them) so the core config stays small:
- `regression:` how `compare` and `run --baseline` decide what is a regression;
- a model entry with `variant_of:` (plus `quantize`, `prune` or a half `dtype`) is a compressed
  copy of another model, built by audit.models.variants;
- `model_card:` the human-written part of the compliance report (intended and out-of-scope uses).
"""

from __future__ import annotations

import fnmatch
from typing import Literal, Mapping, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

CORRECTIONS = ("holm", "bh", "none")
HALF_DTYPES = ("float16", "bfloat16")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PruneSpec(_Strict):
    """Unstructured magnitude pruning of every Linear layer's weight (torch.nn.utils.prune)."""

    amount: float = Field(gt=0, lt=1, description="share of each Linear weight set to zero")
    method: Literal["l1-unstructured"] = "l1-unstructured"


class LatencySpec(_Strict):
    """How CPU latency of a variant and its original is measured (through the adapter, cache off)."""

    texts: int = Field(32, ge=1, le=4096, description="probe sentences, taken from the run's first dataset")
    repeats: int = Field(3, ge=1, le=50, description="timed passes over the probe; the median is reported")
    threads: int = Field(1, ge=1, le=256, description="torch CPU threads while timing")


class RegressionSpec(_Strict):
    """What counts as a regression when a run is compared with a baseline (or a variant with its base).

    A metric is flagged when a one-sided paired test rejects "worse by no more than the tolerance"
    after the multiple-comparison correction of its family (see `family`).
    """

    alpha: float = Field(0.05, gt=0, lt=1, description="family-wise (holm) or false-discovery (bh) level")
    correction: Literal["holm", "bh", "none"] = "holm"
    tolerance: float = Field(0.0, ge=0, description="default tolerance, in the metric's own units")
    tolerances: dict[str, float] = Field(default_factory=dict,
                                         description="metric name or glob (bbq.*) -> tolerance")
    groups: bool = Field(True, description="also compare per-group breakdowns that have outcomes")
    resamples: int = Field(2000, ge=100, le=100_000, description="initial paired bootstrap resamples (doubled "
                                                                  "while the tail beyond the tolerance is thin)")
    family: Literal["hierarchical", "flat"] = Field(
        "hierarchical", description="hierarchical: the suites' headline metrics first (corrected together), then "
                                    "the breakdowns of each flagged or configured headline; flat: every metric "
                                    "in one family")
    breakdowns: list[str] = Field(default_factory=list, description="metric names or globs whose breakdowns are "
                                                                    "always tested, flagged headline or not")
    min_effect: float = Field(0.05, gt=0, description="the worsening (beyond the tolerance, metric units) a "
                                                      "comparison must be able to detect to pass")
    min_effects: dict[str, float] = Field(default_factory=dict, description="metric name or glob -> min_effect")
    history: int = Field(20, ge=0, le=1000, description="stored runs shown in the trend charts")
    variant_severity: Literal["fail", "warn"] = Field(
        "fail", description="severity of a variant's supported regression against its original")
    latency: LatencySpec = Field(default_factory=LatencySpec)

    @field_validator("tolerances")
    @classmethod
    def _non_negative(cls, value: dict[str, float]) -> dict[str, float]:
        for name, tol in value.items():
            if tol < 0:
                raise ValueError(f"tolerance for {name!r} must be >= 0, got {tol}")
        return value

    def tolerance_for(self, metric: str) -> float:
        """The exact name's tolerance, else the first matching glob, else the default."""
        return _lookup(self.tolerances, metric, self.tolerance)

    def min_effect_for(self, metric: str) -> float:
        return _lookup(self.min_effects, metric, self.min_effect)

    def breakdowns_configured(self, metric: str) -> bool:
        return any(fnmatch.fnmatchcase(metric, pattern) for pattern in self.breakdowns)


def _lookup(table: Mapping[str, float], metric: str, default: float) -> float:
    """The exact name's value, else the first matching glob, else the default."""
    if metric in table:
        return table[metric]
    for pattern, value in table.items():
        if fnmatch.fnmatchcase(metric, pattern):
            return value
    return default


class ModelCardSpec(_Strict):
    """The parts of a model card an audit cannot measure: written by the model's owners."""

    title: str | None = None
    description: str | None = None
    owners: str | None = None
    contact: str | None = None
    license: str | None = None
    version: str | None = None
    intended_uses: list[str] = Field(default_factory=list)
    intended_users: list[str] = Field(default_factory=list)
    out_of_scope_uses: list[str] = Field(default_factory=list)
    training_data: str | None = None
    human_oversight: str | None = None
    limitations: list[str] = Field(default_factory=list, description="known limitations beyond the audit's")


class _VariantLike(Protocol):
    variant_of: str | None


def variant_problems(models: Mapping[str, _VariantLike]) -> list[str]:
    """Every `variant_of` must name another model of the config, and chains must not loop."""
    problems = []
    for name, spec in models.items():
        base = spec.variant_of
        if base is None:
            continue
        if base not in models:
            problems.append(f"models.{name}.variant_of names unknown model {base!r}; "
                            f"models are {', '.join(models)}")
            continue
        seen = [name]
        while base is not None and base not in seen:
            seen.append(base)
            base = models[base].variant_of if base in models else None
        if base is not None:
            problems.append(f"models.{name}.variant_of: a cycle of variants ({' -> '.join(seen + [base])})")
    return problems
