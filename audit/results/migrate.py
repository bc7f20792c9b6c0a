"""Read older results.json files: migrate schema 1.x and 2.x (as plain dicts) to the current 3.0 in memory.

2.x -> 3.0 (`migrate_v2`): every 3.0 addition is optional, so a 2.x file needs only its gate
findings' verdicts: a 2.x gate compared point estimates, so its "passed" is not a 3.0 pass (the CI may
straddle the bound) and becomes `inconclusive` with a note; a violation stays a `fail`.

Why: results.json is a public contract; a stored baseline must stay comparable after an upgrade.
What 1.x wrote and 2.0 changed (see DESIGN.md):
- groups were strings in three grammars: `key=value`, `dataset=a,label=b` (accuracy recall),
  `c1=v & c2=w` (fairness intersections) and `template=<a whole sentence>`; 2.0 has a mapping;
- proportions were in % (unit "%", values ×100), in "fraction", or unit-less; 2.0 stores every
  proportion as a fraction with unit "proportion" (values, CIs, bar charts and their references);
- there was no `ideal` (CrowS-Pairs / WinoBias 50 %, bias scores 0) and some of those metrics had a
  direction; 2.0 sets the ideal and leaves the direction unset where only the distance counts.
A migrated file is then validated like any 2.0 file.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Callable

from audit.results import SCHEMA_VERSION, UNIT_PROPORTION

V1_MAJOR = "1"
V2_MAJOR = "2"
V2_GATE_NOTE = "schema 2.x gate (point estimate, no power recorded): a pass is not evidence at 3.0"
PERCENT = "%"
FRACTION = "fraction"
TEMPLATE_PREFIX = "template="
RECALL_LABEL = ",label="
INTERSECTION = " & "
UNNAMED_KEY = "group"

# 1.x metrics that were fractions without a unit (accuracy and lm-eval accuracies).
_UNITLESS_PROPORTIONS = (re.compile(r"^accuracy\.(accuracy|recall)$"), re.compile(r"^lm_eval\..+\.acc(_norm)?$"))

# metric name -> (ideal, higher_is_better) as 2.0 writes them, for the 1.x metrics that have an ideal.
V1_IDEALS: dict[str, tuple[float, bool | None]] = {
    "crows_pairs.metric": (0.5, None),
    "crows_pairs.stereo_score": (0.5, None),
    "crows_pairs.antistereo_score": (0.5, None),
    "winobias.pro_preference": (0.5, None),
    "winobias.pro_anti_gap": (0.0, None),
    "bbq.bias_score_ambig": (0.0, None),
    "bbq.bias_score_disambig": (0.0, None),
    "templates.association": (0.0, None),
    "templates.stereotype_gap": (0.0, None),
    "counterfactual.flip_rate": (0.0, False),
    "counterfactual.mean_abs_delta": (0.0, False),
    "fairness.demographic_parity_difference": (0.0, False),
    "fairness.demographic_parity_ratio": (1.0, True),
    "fairness.equalized_odds_difference": (0.0, False),
}


class MigrationError(ValueError):
    """The file claims an older schema but does not have its shape."""


def major(version: str) -> str:
    return version.split(".", 1)[0]


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    return (key.strip(), value.strip()) if sep and key.strip() else (UNNAMED_KEY, text.strip())


def parse_v1_group(text: str | None) -> dict[str, str] | None:
    """A 1.x group string as a mapping. The grammars are told apart by their shapes, most specific
    first: a template sentence may hold anything, so `template=` takes the whole rest."""
    if text is None or not str(text).strip():
        return None
    text = str(text)
    if text.startswith(TEMPLATE_PREFIX):
        return {"template": text[len(TEMPLATE_PREFIX):]}
    if INTERSECTION in text:
        return dict(_pair(part) for part in text.split(INTERSECTION))
    if text.startswith("dataset=") and RECALL_LABEL in text:
        dataset, _, label = text[len("dataset="):].rpartition(RECALL_LABEL)
        return {"dataset": dataset, "label": label}
    return dict([_pair(text)])


def _is_unitless_proportion(name: str) -> bool:
    return any(p.match(name) for p in _UNITLESS_PROPORTIONS)


def _scale(record: dict[str, Any], fields: tuple[str, ...], factor: float) -> None:
    for field in fields:
        if isinstance(record.get(field), (int, float)) and not isinstance(record.get(field), bool):
            record[field] = record[field] * factor


def migrate_metric(metric: dict[str, Any]) -> dict[str, Any]:
    """One 1.x metric as 2.0: typed group, proportion as a fraction, known ideal."""
    out = dict(metric)
    out["group"] = parse_v1_group(out.get("group"))
    unit, name = out.get("unit"), str(out.get("name", ""))
    if unit == PERCENT:
        _scale(out, ("value", "ci_low", "ci_high"), 0.01)
        out["unit"] = UNIT_PROPORTION
    elif unit == FRACTION or (unit is None and _is_unitless_proportion(name)):
        out["unit"] = UNIT_PROPORTION
    if name in V1_IDEALS:
        out["ideal"], out["higher_is_better"] = V1_IDEALS[name]
    return out


def migrate_view(view: dict[str, Any]) -> dict[str, Any]:
    """Bar charts in % become proportions (bars, CIs and the reference line)."""
    out = dict(view)
    if out.get("type") != "bar_chart" or out.get("unit") not in (PERCENT, FRACTION):
        return out
    if out["unit"] == PERCENT:
        out["bars"] = [dict(bar) for bar in out.get("bars", [])]
        for bar in out["bars"]:
            _scale(bar, ("value", "ci_low", "ci_high"), 0.01)
        _scale(out, ("reference",), 0.01)
    out["unit"] = UNIT_PROPORTION
    return out


def _each(items: Any, what: str, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise MigrationError(f"{what} is not a list of objects")
    return [fn(item) for item in items]


def migrate_suite(suite: dict[str, Any]) -> dict[str, Any]:
    out = dict(suite)
    out["metrics"] = _each(out.get("metrics", []), "metrics", migrate_metric)
    out["outcomes"] = _each(out.get("outcomes", []), "outcomes",
                            lambda o: {**o, "group": parse_v1_group(o.get("group"))})
    out["views"] = _each(out.get("views", []), "views", migrate_view)
    return out


def migrate_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A 1.x results dict as a 2.0 one (a new dict; the input is not changed)."""
    out = copy.deepcopy(data)
    out["suites"] = _each(out.get("suites", []), "suites", migrate_suite)
    out["schema_version"] = SCHEMA_VERSION
    return out


def migrate_finding_v2(finding: dict[str, Any]) -> dict[str, Any]:
    """A 2.x gate finding with a 3.0 verdict: violations fail, a point-estimate pass is inconclusive."""
    out = dict(finding)
    if out.get("gate") and out.get("verdict") is None:
        out["verdict"] = "inconclusive" if out.get("severity") == "info" else "fail"
        out["evidence"] = {**(out.get("evidence") or {}), "migrated": V2_GATE_NOTE}
    return out


def migrate_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A 2.x results dict as a 3.0 one (a new dict; the input is not changed)."""
    out = copy.deepcopy(data)
    out["findings"] = _each(out.get("findings", []), "findings", migrate_finding_v2)
    for suite in _each(out.get("suites", []), "suites", lambda s: s):
        suite["findings"] = _each(suite.get("findings", []), "suites[].findings", migrate_finding_v2)
    out["schema_version"] = SCHEMA_VERSION
    return out


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a results dict of any readable schema to the current one (1.x -> 2.x -> 3.0)."""
    version = str(data.get("schema_version", ""))
    if major(version) == V1_MAJOR:
        data = migrate_v1(data)
        data["schema_version"] = "2.1"
        version = "2.1"
    if major(version) == V2_MAJOR:
        return migrate_v2(data)
    return data
