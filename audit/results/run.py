"""One suite's result on one model, the run's provenance, and the AuditRun that results.json holds."""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import Field

from audit.results.comparison import Comparison, MetricHistory, Selftest, VariantReport
from audit.results.records import (SCHEMA_VERSION, Condition, Example, Finding, Metric, Outcomes, Status, _Record,
                                   group_key)
from audit.results.views import View


class SuiteResult(_Record):
    suite: str
    suite_version: str
    model: str
    status: Status = Status.PASSED
    duration_s: float = 0.0
    metrics: list[Metric] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    examples: list[Example] = Field(default_factory=list)
    views: list[View] = Field(default_factory=list)
    outcomes: list[Outcomes] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    # the suite's headline metrics (`name` or `name[group_key]`, globs allowed): compare tests them first
    # and the compliance report leads with them; empty: every overall metric is a headline
    headlines: list[str] = Field(default_factory=list)

    def metric(self, name: str, group: Mapping[str, str] | str | None = None,
               condition: Condition | str = Condition.ORIGINAL) -> Metric | None:
        """The metric `name` of `group` (a mapping or its canonical text) under `condition`."""
        key = group if isinstance(group, str) or group is None else group_key(group)
        return next((m for m in self.metrics if m.name == name and m.group_key == key
                     and m.condition == Condition(condition)), None)


class ModelProvenance(_Record):
    path: str
    sha256: str
    kind: str
    details: dict[str, Any] = Field(default_factory=dict)


class DerivedModelProvenance(_Record):
    """A model the run built (e.g. a DP fine-tune): what from, how, and where it lives."""

    base: str                       # the model reference it was trained from
    path: str                       # resolved local folder of the artifact
    sha256: str                     # content fingerprint of the artifact
    kind: str
    recipe: dict[str, Any] = Field(default_factory=dict)
    recipe_sha256: str = ""
    data_sha256: str = ""
    training: dict[str, Any] = Field(default_factory=dict)


class DatasetProvenance(_Record):
    path: str
    sha256: str
    rows: int | None = None


class Provenance(_Record):
    models: dict[str, ModelProvenance] = Field(default_factory=dict)
    derived_models: dict[str, DerivedModelProvenance] = Field(default_factory=dict)
    datasets: dict[str, DatasetProvenance] = Field(default_factory=dict)
    config_path: str | None = None
    config_sha256: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    packages: dict[str, str] = Field(default_factory=dict)
    git_revision: str | None = None
    python: str = ""
    platform: str = ""
    device: str = ""
    seed: int = 0
    started_at: str = ""
    finished_at: str | None = None
    command: str | None = None           # the command line that made the run (to reproduce it)
    code_sha256: str | None = None       # of the project's source files (audit/, suites/, reports/)
    store: str | None = None             # the run history this run was recorded in (password hidden)
    executor: dict[str, Any] | None = None   # where the jobs ran (kind, address, workers); not hashed


class AuditRun(_Record):
    schema_version: str = SCHEMA_VERSION
    run_id: str
    status: Status
    provenance: Provenance
    suites: list[SuiteResult] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    comparison: Comparison | None = None
    variants: list[VariantReport] = Field(default_factory=list)
    history: list[MetricHistory] = Field(default_factory=list)
    selftest: Selftest | None = None          # what this audit can detect (`run_audit.py selftest`)

    def all_findings(self) -> list[Finding]:
        return self.findings + [f for s in self.suites for f in s.findings]
