"""The Suite protocol and the Context a suite runs in (no globals: everything comes in ctx)."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from audit.models.adapters.base import Capability, ModelAdapter
from audit.data.labelled import check_tables
from audit.data.resolver import DataResolver
from audit.results.names import MetricNames
from audit.results import SuiteResult

if TYPE_CHECKING:
    from audit.models.factory import ModelFactory


class SuiteConfig(BaseModel):
    """Base for suite configs: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


def check_part_names(value: list[str] | str, known: Sequence[str]) -> list[str] | str:
    """A suite's `parts`: 'auto', or a non-empty list of known part names (for a field validator)."""
    if isinstance(value, list):
        unknown = [p for p in value if p not in known]
        if unknown:
            raise ValueError(f"unknown part {unknown[0]!r}; parts are {', '.join(known)}")
        if not value:
            raise ValueError("name at least one part, or use 'auto'")
    return value


ProgressFactory = Callable[..., Any]  # tqdm-like: progress(iterable=None, total=None, desc=...)


def null_progress(iterable: Iterable | None = None, **_: Any) -> Any:
    return iterable


@dataclass
class Context:
    """What a suite gets: its model's adapter, its validated config, seeds, data and progress."""

    model_name: str
    adapter: ModelAdapter
    config: Any
    seed: int
    data: DataResolver
    artifacts_dir: Path
    progress: ProgressFactory = field(default=null_progress)
    models: "ModelFactory | None" = None     # derived and reference models (audit.models.factory)
    model_ref: str | None = None             # the audited model's reference (path, prepared:NAME), as configured

    def rng(self, *keys: object) -> np.random.Generator:
        """A generator seeded by the run seed and `keys` (e.g. suite, part, example id)."""
        digest = hashlib.sha256(repr((self.seed,) + keys).encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def sub_seed(self, *keys: object) -> int:
        digest = hashlib.sha256(repr((self.seed,) + keys).encode()).digest()
        return int.from_bytes(digest[:4], "little")


@dataclass
class CheckContext:
    """What a suite's cheap input check gets (audit.run.preflight): no model, only what the folder says."""

    model_name: str
    data: DataResolver
    seed: int
    where: str                                # the config key of this suite block, e.g. "suites[3].config"
    model_labels: list[str] | None = None     # a classifier's label names from its config.json
    model_kind: str | None = None             # causal_lm, classifier, masked_lm, encoder


class Suite(ABC):
    """A pluggable audit suite. Register it under the `audit.suites` entry-point group."""

    name: ClassVar[str]
    version: ClassVar[str]
    Config: ClassVar[type[SuiteConfig]]
    requires: ClassVar[frozenset[Capability]] = frozenset()
    # every metric name it emits (names.py of the suite): gates on other names are config errors and the
    # compliance mapping is checked against them; a suite that declares nothing is not checked
    metrics: ClassVar[MetricNames] = MetricNames()
    check_labels: ClassVar[bool] = True      # the preflight maps dataset labels onto a classifier's

    def check_inputs(self, config: SuiteConfig, ctx: CheckContext) -> list[str]:
        """Problems with the files this config reads, one line each naming key, file, row and column;
        cheap (no model). Called before any model loads, so a broken last suite fails at once.
        Default: every labelled table of the config read under audit.data.labelled's contract (labels
        mapped onto a classifier's when `check_labels` is set) and every other file reference resolved."""
        labels = ctx.model_labels if self.check_labels else None
        return check_tables(config, ctx.data, where=ctx.where, model_labels=labels)
    # headline metrics (`name` or `name[group_key]`, globs): tested first by compare, led with in reports
    headlines: ClassVar[tuple[str, ...]] = ()

    def required_capabilities(self, config: SuiteConfig) -> frozenset[Capability]:
        """Capabilities the adapter must have for this config (default: the class's `requires`)."""
        return self.requires

    def new_result(self, ctx: Context) -> SuiteResult:
        return SuiteResult(suite=self.name, suite_version=self.version, model=ctx.model_name,
                           headlines=list(self.headlines))

    @abstractmethod
    def run(self, ctx: Context) -> SuiteResult:
        """Measure, and return metrics, findings, examples and views. Never call the model directly."""
