"""Typed result records: estimates, metrics, per-example outcomes, findings and examples.

`results.json` is an `AuditRun` (audit/results/run.py) dumped to JSON. Renderers import only
`audit.results`, never suite code (HELM's rule: the report reads stored results).
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field

# 2.1 added the optional `comparison`, `variants` and `history` of an AuditRun (2.0 files still load).
# 3.0: three-valued verdicts with power (Finding.verdict/power, MetricChange.verdict/power), Outcomes of
# non-mean statistics (`statistic`, `labels`, `strata`), untestable metrics with a reason, gates judge the CI
# by default, and the `selftest` of a run (audit/results/migrate.py reads 1.x and 2.x files).
SCHEMA_VERSION = "3.0"

# One unit convention: every proportion or rate (accuracy, CrowS-Pairs metric, flip rate, attack
# success rate, ...) is a fraction in [0, 1] with unit "proportion"; renderers show it as %.
UNIT_PROPORTION = "proportion"

# A breakdown of a metric: key -> value (e.g. {"bias_type": "race-color"}, {"dataset": "rt",
# "label": "positive"}). `group_key` is its one canonical text form, used by gates, compare,
# the store and the report.
Group = dict[str, str]
_GROUP_ESCAPES = str.maketrans({"\\": "\\\\", ";": "\\;", "=": "\\="})


def group_key(group: Mapping[str, str] | None) -> str | None:
    """Canonical text of a group: `key=value` pairs sorted by key, joined by ';' (\\ escapes ; = \\)."""
    if not group:
        return None
    return ";".join(f"{str(k).translate(_GROUP_ESCAPES)}={str(v).translate(_GROUP_ESCAPES)}"
                    for k, v in sorted(group.items()))


def group_label(group: Mapping[str, str] | None, overall: str = "overall") -> str:
    """Readable text of a group for reports and charts: `key: value, key2: value2` in the group's
    own order (not parseable; use `group_key` wherever a group must be matched)."""
    if not group:
        return overall
    return ", ".join(f"{k}: {v}" for k, v in group.items())


def parse_group(text: str | None) -> Group | None:
    """Inverse of `group_key` (a gate's `group: "bias_type=race-color"` is read with it)."""
    if text is None or not text.strip():
        return None
    pairs: list[list[str]] = [[""]]
    escaped = False
    for char in text:
        if escaped:
            pairs[-1][-1] += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ";":
            pairs.append([""])
        elif char == "=" and len(pairs[-1]) == 1:
            pairs[-1].append("")
        else:
            pairs[-1][-1] += char
    group: Group = {}
    for pair in pairs:
        if len(pair) != 2 or not pair[0].strip():
            raise ValueError(f"group {text!r} is not of the form 'key=value;key2=value2'")
        group[pair[0].strip()] = pair[1].strip()
    return group


def metric_label(name: str, group: Mapping[str, str] | None = None) -> str:
    """`name` or `name[group_key]`: how a suite's declared headline metrics are written (globs allowed)."""
    key = group_key(group)
    return name if key is None else f"{name}[{key}]"


def _glob(pattern: str) -> "re.Pattern[str]":
    """`*` and `?` are wildcards; everything else (the brackets of `name[group]` included) is literal."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z")


def is_headline(patterns: list[str] | tuple[str, ...], name: str, group: Mapping[str, str] | None = None) -> bool:
    """Whether a metric is one of the declared headlines; with none declared, every overall metric is."""
    if not patterns:
        return not group
    label = metric_label(name, group)
    return any(_glob(p).match(label) for p in patterns)


AUDITED = "audited"           # Metric.subject of the model under audit
DERIVED_PREFIX = "derived:"   # Metric.subject of a model the run derived, e.g. "derived:privacy-dp-eps8"


class Condition(str, Enum):
    """On which inputs a number was computed (HELM records the same)."""

    ORIGINAL = "original"
    PERTURBED = "perturbed"
    WORST_CASE = "worst_case"
    UNDER_ATTACK = "under_attack"


class _Record(BaseModel):
    # NaN/inf (e.g. a rate on an empty group) are written as "NaN"/"Infinity" so files round-trip.
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")


class Severity(str, Enum):
    FAIL = "fail"
    WARN = "warn"
    INFO = "info"


class Status(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


class Estimate(_Record):
    """A point estimate with its sample size and confidence interval."""

    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n: int
    ci_method: str | None = None
    confidence: float = 0.95
    nan_share: float | None = Field(None, description="share of bootstrap resamples where the statistic "
                                                      "was undefined (dropped before taking the CI)")


class Metric(Estimate):
    """One number of a suite; `group` set means a breakdown of the metric of the same name.

    `ideal` marks metrics whose best value is a target, not a direction (CrowS-Pairs: 0.5):
    gates and compare then judge the distance from it.
    """

    name: str
    group: Group | None = None
    condition: Condition = Condition.ORIGINAL
    higher_is_better: bool | None = None
    ideal: float | None = None
    unit: str | None = None
    description: str | None = None
    # Which model the number is about: "audited" (the model under audit) or "derived:NAME" (a model the
    # run built or loaded, e.g. a DP fine-tune or a reference model). Only "audited" is evidence.
    subject: str = AUDITED
    # Outputs left out of this number because they could not be scored (e.g. generation-safety
    # outputs the detectors cannot read); None where the concept does not apply.
    n_unscored: int | None = None

    @property
    def group_key(self) -> str | None:
        return group_key(self.group)

    @classmethod
    def from_estimate(cls, name: str, estimate: Estimate, **fields: Any) -> "Metric":
        return cls(name=name, **estimate.model_dump(), **fields)


# How a metric is computed from its Outcomes (compare re-computes it on the shared examples):
STAT_MEAN = "mean"          # mean of `values` (accuracy, a bias score written as per-item +1/0/−1, ...)
STAT_AUC = "auc"            # ROC AUC of `values` (scores) against `labels` (1 member, 0 non-member)
STAT_MAX_GAP = "max_gap"    # max − min over `strata` of the mean of `values` (demographic parity difference)
STAT_EO_GAP = "eo_gap"      # equalized-odds difference of predictions `values` against `labels` over `strata`
Statistic = Literal["mean", "auc", "max_gap", "eo_gap"]


class Outcomes(_Record):
    """Per-example values behind a metric, for paired comparisons between runs."""

    metric: str
    group: Group | None = None
    condition: Condition = Condition.ORIGINAL
    example_ids: list[str]
    values: list[float]
    statistic: Statistic = STAT_MEAN
    labels: list[float] | None = None     # auc / eo_gap: the true label of each example
    strata: list[str] | None = None       # max_gap / eo_gap: the group of each example

    @property
    def group_key(self) -> str | None:
        return group_key(self.group)


class Verdict(str, Enum):
    """A gate, finding or comparison: pass only when the evidence could have shown a failure."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class Power(_Record):
    """What a verdict could have detected at its n (80 % power unless `target_power` says otherwise)."""

    n: int
    minimum_detectable_effect: float | None = None   # in the metric's units, at `target_power`
    required_effect: float | None = None             # the distance the verdict must detect
    power: float | None = None                       # power against `required_effect`
    target_power: float = 0.8
    method: str = ""                                 # e.g. "analytic: paired proportions", "simulation (K=200)"
    can_test: bool = True                            # False: "cannot test" (MDE above the required effect)
    note: str | None = None                          # e.g. "the most this design could prove is eps = 2.55"


class Finding(_Record):
    severity: Severity
    message: str
    gate: str | None = None
    metric: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    verdict: Verdict | None = None
    power: Power | None = None


class Span(_Record):
    start: int
    end: int
    label: str | None = None


class Example(_Record):
    """An illustrative example; `text` is shown escaped, `spans` highlight parts of it."""

    id: str
    text: str
    fields: dict[str, Any] = Field(default_factory=dict)
    spans: list[Span] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


