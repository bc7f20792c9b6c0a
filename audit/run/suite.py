"""The Suite protocol and the Context a suite runs in (no globals: everything comes in ctx)."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable

import numpy as np
from pydantic import BaseModel, ConfigDict

from audit.models.adapters.base import Capability, ModelAdapter
from audit.data.resolver import DataResolver
from audit.results.names import MetricNames
from audit.results import SuiteResult

if TYPE_CHECKING:
    from audit.models.factory import ModelFactory


class SuiteConfig(BaseModel):
    """Base for suite configs: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


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


class Suite(ABC):
    """A pluggable audit suite. Register it under the `audit.suites` entry-point group."""

    name: ClassVar[str]
    version: ClassVar[str]
    Config: ClassVar[type[SuiteConfig]]
    requires: ClassVar[frozenset[Capability]] = frozenset()
    metrics: ClassVar[MetricNames] = MetricNames()   # every metric name it emits (gates, mapping check)

    def required_capabilities(self, config: SuiteConfig) -> frozenset[Capability]:
        """Capabilities the adapter must have for this config (default: the class's `requires`)."""
        return self.requires

    def new_result(self, ctx: Context) -> SuiteResult:
        return SuiteResult(suite=self.name, suite_version=self.version, model=ctx.model_name)

    @abstractmethod
    def run(self, ctx: Context) -> SuiteResult:
        """Measure, and return metrics, findings, examples and views. Never call the model directly."""
