"""May two runs be compared? Same audit protocol (suites and their settings) and the same data.

The protocol is the config's `suites` block: which suites ran on which models with which
settings. The models' own specs (new weights are what a regression check is for), the seed,
gates, report, store, regression and model-card blocks are left out. Datasets are matched by
content hash (the same file may live at another path on another machine).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePath
from typing import Any

from audit.results import AuditRun, DatasetProvenance

PROTOCOL_KEYS = ("suites",)
MAX_SHOWN = 60


def protocol(config: dict[str, Any]) -> dict[str, Any]:
    return {key: config.get(key) for key in PROTOCOL_KEYS}


def protocol_sha256(config: dict[str, Any]) -> str:
    text = json.dumps(protocol(config), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """The first key path where two JSON-like values differ, with both values (None when equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                return f"{where}: {'absent' if key not in a else _short(a[key])} vs " \
                       f"{'absent' if key not in b else _short(b[key])}"
            found = first_difference(a[key], b[key], where)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} entries"
        return None
    return None if a == b else f"{path or '(top level)'}: {_short(a)} vs {_short(b)}"


def config_difference(baseline: AuditRun, candidate: AuditRun) -> str | None:
    """Why the two runs' audit protocols differ, or None when they are the same."""
    found = first_difference(protocol(baseline.provenance.config), protocol(candidate.provenance.config))
    return f"the configs differ in {found}" if found else None


def _label(key: str, record: DatasetProvenance) -> str:
    return PurePath(record.path or key).name or key


def dataset_differences(baseline: AuditRun, candidate: AuditRun) -> list[str]:
    """One line per dataset that is not the same content in both runs (matched by hash, then name)."""
    base = dict(baseline.provenance.datasets)
    cand = dict(candidate.provenance.datasets)
    shared = {d.sha256 for d in base.values()} & {d.sha256 for d in cand.values()}
    base = {k: d for k, d in base.items() if d.sha256 not in shared}
    cand = {k: d for k, d in cand.items() if d.sha256 not in shared}
    problems = []
    base_by_name = {_label(k, d): d for k, d in base.items()}
    for key, record in sorted(cand.items()):
        name = _label(key, record)
        old = base_by_name.pop(name, None)
        if old is not None:
            problems.append(f"dataset {name} differs: sha256 {old.sha256[:12]}… in the baseline "
                            f"({old.path}), {record.sha256[:12]}… in the candidate ({record.path})")
        else:
            problems.append(f"dataset {name} ({record.path}) was used by the candidate only")
    for name, record in sorted(base_by_name.items()):
        problems.append(f"dataset {name} ({record.path}) was used by the baseline only")
    return problems


NUMERIC_KEYS = (("dtype", "resolved dtype"), ("device_type", "device type"), ("cpu_isa", "CPU instruction set"))


def _numerics(details: dict[str, Any]) -> dict[str, Any]:
    device = str(details.get("device") or "")
    out = {"dtype": details.get("dtype"), "device_type": device.split(":")[0] or None}
    if out["device_type"] == "cpu":
        out["cpu_isa"] = details.get("cpu_isa")
    return out


def numeric_differences(baseline: AuditRun, candidate: AuditRun) -> list[str]:
    """Models whose numbers were computed differently: another resolved dtype (`dtype: fast` is bf16 only
    where the hardware runs it fast), device type or CPU instruction set. Keys absent in either run
    (older results) are not compared."""
    problems = []
    base, cand = baseline.provenance.models, candidate.provenance.models
    for name in sorted(set(base) & set(cand)):
        old, new = _numerics(base[name].details), _numerics(cand[name].details)
        for key, label in NUMERIC_KEYS:
            if old.get(key) is not None and new.get(key) is not None and old[key] != new[key]:
                problems.append(f"model {name}: the {label} differs ({_short(old[key])} in the baseline, "
                                f"{_short(new[key])} in the candidate): its numbers are not computed the same way")
    return problems
