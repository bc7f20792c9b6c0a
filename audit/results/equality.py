"""Two results.json files of one config compared apart from what legitimately differs between runs.

Where a run executes (local or Ray) changes no number: the same config and starting cache must give
the same results, except timings, ids and host fields. The Ray executor's test and
bench/ray_equality.py compare runs with these functions, so both ignore exactly the same fields.
"""

from __future__ import annotations

import copy
import re
from typing import Any

# keys dropped at any depth: timings, run ids and the executor block (hosts, pids, actor settings)
VOLATILE = frozenset({"duration_s", "seconds", "run_id", "started_at", "finished_at", "executor",
                      "built_at", "seconds_per_step", "seconds_total", "seconds_train", "seconds_per_probe",
                      "cpu_seconds", "measured_seconds", "estimated_seconds", "seconds_per_input"})
TIME_UNIT = "s"          # a metric in seconds is a cost measured on the machine, not a result
TIME_COLUMN = re.compile(r"\bseconds\b|\bms\b")   # table columns of measured times ("ms per probe")
# provenance keys naming where one run's files are: its config copy, its command line (config and
# --out paths) and its history store; two runs compared side by side differ there by construction
RUN_LOCATION_KEYS = ("config_path", "command", "store")
# the folder a derived model (randomised, fine-tuned) was written to sits in the run's cache folder;
# its sha256 and recipe, which stay compared, say what it is
DERIVED_MODELS_KEY, DERIVED_LOCATION_KEY = "derived_models", "path"


def comparable(data: Any) -> Any:
    """A JSON value without the VOLATILE keys, at every depth."""
    if isinstance(data, dict):
        return {k: comparable(v) for k, v in data.items() if k not in VOLATILE}
    if isinstance(data, list):
        return [comparable(v) for v in data]
    return data


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """The paths at which two JSON values differ (an empty list when they are equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {str(a)[:80]} != {str(b)[:80]}"]


def run_view(results: dict[str, Any]) -> dict[str, Any]:
    """A results.json dict as compared across executors: the config's own executor block, the
    RUN_LOCATION_KEYS and derived models' folders removed from the provenance, then the VOLATILE
    keys everywhere."""
    data = copy.deepcopy(results)
    provenance = data.get("provenance") or {}
    if isinstance(provenance.get("config"), dict):
        provenance["config"].pop("executor", None)
    for key in RUN_LOCATION_KEYS:
        provenance.pop(key, None)
    for derived in (provenance.get(DERIVED_MODELS_KEY) or {}).values():
        if isinstance(derived, dict):
            derived.pop(DERIVED_LOCATION_KEY, None)
    for suite in data.get("suites") or []:
        _drop_timings(suite)
    return comparable(data)


def _drop_timings(suite: dict[str, Any]) -> None:
    """Values of metrics measured in seconds, table cells under a time column, and findings whose
    evidence is a measured time: a time-budget warning quotes the machine's speed, and whether it is
    raised at all depends on it (measured: the default audit's explainability plan at 19.1 ms per input
    came to 182 s, over its 180 s budget, in one of two equal runs). Such a finding that carries a
    verdict stays compared, its message apart."""
    kept = []
    for finding in suite.get("findings") or []:
        if VOLATILE & set(finding.get("evidence") or {}):
            if finding.get("verdict") is None:
                continue
            finding.pop("message", None)
        kept.append(finding)
    if "findings" in suite:
        suite["findings"] = kept
    for metric in suite.get("metrics") or []:
        if metric.get("unit") == TIME_UNIT:
            for key in ("value", "ci_low", "ci_high"):
                metric.pop(key, None)
    for view in suite.get("views") or []:
        timed = [i for i, c in enumerate(view.get("columns") or []) if TIME_COLUMN.search(str(c))]
        for row in view.get("rows") or []:
            for i in timed:
                if isinstance(row, list) and i < len(row):
                    row[i] = None


def run_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Where two results.json dicts of one config differ, ignoring timings, ids, hosts and the executor."""
    return differences(run_view(a), run_view(b))
