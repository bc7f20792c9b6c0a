"""The compliance mapping and the known-limitation notes, read from YAML and validated.

`mapping.yaml` says which requirement (EU AI Act, NIST AI RMF MEASURE 2.x) each result can
evidence, by metric-name prefix or suite; `caveats.yaml` says what each result cannot show.
Both are data: a new suite maps by adding its prefix, not by changing this code.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from audit.results.names import MetricNames, unknown_prefixes
from audit.run.registry import declared_metric_names

MAPPING_FILE = "mapping.yaml"
CAVEATS_FILE = "caveats.yaml"
RUN_EVIDENCE = ("provenance", "comparison", "variants", "history")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Item(_Strict):
    ref: str
    text: str


class Framework(_Strict):
    title: str
    items: dict[str, Item]


class Rule(_Strict):
    """Metrics whose name starts with one of `prefix` (or that come from one of `suite`)."""

    name: str
    prefix: list[str] = Field(default_factory=list)
    suite: list[str] = Field(default_factory=list)
    area: str
    evidence: list[str]

    def matches_prefix(self, metric: str) -> bool:
        return any(metric.startswith(p) for p in self.prefix)


class RunEvidence(_Strict):
    label: str
    evidence: list[str]


class Mapping(_Strict):
    areas: dict[str, str]
    frameworks: dict[str, Framework]
    rules: list[Rule]
    run: dict[str, RunEvidence]

    @model_validator(mode="after")
    def _known_ids(self) -> "Mapping":
        known = {item for f in self.frameworks.values() for item in f.items}
        for rule in self.rules:
            if rule.area not in self.areas:
                raise ValueError(f"rule {rule.name!r}: unknown area {rule.area!r}")
            unknown = set(rule.evidence) - known
            if unknown:
                raise ValueError(f"rule {rule.name!r}: unknown requirement ids {sorted(unknown)}")
        for key, entry in self.run.items():
            if key not in RUN_EVIDENCE:
                raise ValueError(f"run evidence {key!r} is not one of {RUN_EVIDENCE}")
            unknown = set(entry.evidence) - known
            if unknown:
                raise ValueError(f"run evidence {key!r}: unknown requirement ids {sorted(unknown)}")
        return self

    def rule_for(self, metric: str, suite: str) -> Rule | None:
        """The first rule whose prefix matches the metric's name; else the first that names its suite
        (a new metric of a known suite still maps)."""
        by_prefix = next((r for r in self.rules if r.matches_prefix(metric)), None)
        return by_prefix or next((r for r in self.rules if suite in r.suite), None)


class Caveat(_Strict):
    prefix: list[str] = Field(default_factory=list)
    dataset: list[str] = Field(default_factory=list)
    text: str

    def applies(self, metrics: set[str], datasets: list[str]) -> bool:
        return any(m.startswith(p) for m in metrics for p in self.prefix) or \
            any(d in path for d in self.dataset for path in datasets)


class Caveats(_Strict):
    caveats: list[Caveat]


def _read(name: str) -> Any:
    return yaml.safe_load(resources.files("reports.compliance").joinpath(name).read_text(encoding="utf-8"))


def check_prefixes(file: str, prefixes: list[str], declared: MetricNames) -> None:
    """A prefix that matches no metric a suite declares is a typo that would read "not evidenced"."""
    unknown = unknown_prefixes(prefixes, declared)
    if unknown:
        raise ValueError(f"reports/compliance/{file}: prefix(es) {', '.join(map(repr, unknown))} match no metric "
                         f"name that an installed suite declares")


@functools.lru_cache(maxsize=1)
def load_mapping() -> Mapping:
    mapping = Mapping.model_validate(_read(MAPPING_FILE))
    check_prefixes(MAPPING_FILE, [p for rule in mapping.rules for p in rule.prefix], declared_metric_names())
    return mapping


@functools.lru_cache(maxsize=1)
def load_caveats() -> Caveats:
    caveats = Caveats.model_validate(_read(CAVEATS_FILE))
    check_prefixes(CAVEATS_FILE, [p for c in caveats.caveats for p in c.prefix], declared_metric_names())
    return caveats
