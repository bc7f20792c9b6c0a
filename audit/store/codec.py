"""AuditRun <-> rows of the history tables (pure functions, no connection)."""

from __future__ import annotations

import json
import math
import zlib
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

import numpy as np

from audit.regression.comparability import protocol_sha256
from audit.results import (STAT_MEAN, AuditRun, Condition, Finding, Metric, Outcomes, Provenance, Severity, Status, SuiteResult,
                           group_key, parse_group)

ZLIB_LEVEL = 6


def _float(value: float | None) -> float | None:
    """NaN and infinities are stored as NULL (SQLite has no NaN); read back as NaN."""
    return None if value is None or not math.isfinite(value) else float(value)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def pack_ids(ids: list[str]) -> bytes:
    return zlib.compress(json.dumps(ids, ensure_ascii=False).encode("utf-8"), ZLIB_LEVEL)


def unpack_ids(blob: bytes) -> list[str]:
    return json.loads(zlib.decompress(blob).decode("utf-8"))


def pack_values(values: list[float]) -> bytes:
    return zlib.compress(np.asarray(values, dtype="<f8").tobytes(), ZLIB_LEVEL)


def unpack_values(blob: bytes) -> list[float]:
    return np.frombuffer(zlib.decompress(blob), dtype="<f8").tolist()


def now_iso() -> str:
    """Microseconds: runs that start in the same second still sort in the order they were recorded."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def run_row(run: AuditRun, results_path: str | None) -> dict[str, Any]:
    p = run.provenance
    names = sorted({s.model for s in run.suites} | set(p.models))
    return {"run_id": run.run_id, "started_at": p.started_at or "", "finished_at": p.finished_at,
            "recorded_at": now_iso(), "status": run.status.value, "config_path": p.config_path,
            "config_sha256": p.config_sha256, "protocol_sha256": protocol_sha256(p.config), "seed": p.seed,
            "git_revision": p.git_revision, "device": p.device, "models": " " + " ".join(names) + " ",
            "results_path": results_path, "provenance": p.model_dump_json(), "schema_version": run.schema_version}


def suite_rows(run: AuditRun) -> dict[str, list[dict[str, Any]]]:
    """Rows for the suite, metric, outcome and finding tables of `run`."""
    out: dict[str, list[dict[str, Any]]] = {"suites": [], "metrics": [], "outcomes": [], "findings": []}
    rid = run.run_id
    for pos, s in enumerate(run.suites):
        out["suites"].append({"run_id": rid, "position": pos, "suite": s.suite, "suite_version": s.suite_version,
                              "model": s.model, "status": s.status.value, "duration_s": s.duration_s,
                              "error": s.error})
        for m in s.metrics:
            out["metrics"].append({
                "run_id": rid, "suite_position": pos, "suite": s.suite, "model": s.model, "name": m.name,
                "group_key": m.group_key, "condition": m.condition.value, "value": _float(m.value),
                "ci_low": _float(m.ci_low), "ci_high": _float(m.ci_high), "n": m.n, "ci_method": m.ci_method,
                "confidence": m.confidence, "nan_share": _float(m.nan_share), "higher_is_better": m.higher_is_better,
                "ideal": _float(m.ideal), "unit": m.unit, "description": m.description})
        for o in s.outcomes:
            if o.statistic != STAT_MEAN:   # AUC / group-gap outcomes need labels and strata the store does not keep
                continue
            out["outcomes"].append({
                "run_id": rid, "suite_position": pos, "metric": o.metric, "group_key": o.group_key,
                "condition": o.condition.value, "n": len(o.values), "example_ids": pack_ids(o.example_ids),
                "values": pack_values(o.values)})
        out["findings"].extend(_finding_row(rid, pos, f) for f in s.findings)
    out["findings"].extend(_finding_row(rid, None, f) for f in run.findings)
    return out


def _finding_row(run_id: str, pos: int | None, f: Finding) -> dict[str, Any]:
    return {"run_id": run_id, "suite_position": pos, "severity": f.severity.value, "gate": f.gate,
            "metric": f.metric, "message": f.message, "evidence": json.dumps(f.evidence, default=str)}


def _finding(row: Mapping[str, Any]) -> Finding:
    return Finding(severity=Severity(row["severity"]), gate=row["gate"], metric=row["metric"], message=row["message"],
                   evidence=json.loads(row["evidence"]) if row["evidence"] else {})


def _metric(row: Mapping[str, Any]) -> Metric:
    return Metric(name=row["name"], value=_nan(row["value"]), ci_low=row["ci_low"], ci_high=row["ci_high"],
                  n=row["n"], ci_method=row["ci_method"], confidence=row["confidence"] or 0.95,
                  nan_share=row["nan_share"], group=parse_group(row["group_key"]),
                  condition=Condition(row["condition"]), higher_is_better=row["higher_is_better"],
                  ideal=row["ideal"], unit=row["unit"], description=row["description"])


def _outcomes(row: Mapping[str, Any]) -> Outcomes:
    return Outcomes(metric=row["metric"], group=parse_group(row["group_key"]), condition=Condition(row["condition"]),
                    example_ids=unpack_ids(row["example_ids"]), values=unpack_values(row["values"]))


def build_run(run: Mapping[str, Any], suites: Iterable[Mapping[str, Any]], metrics: Iterable[Mapping[str, Any]],
              outcomes: Iterable[Mapping[str, Any]], findings: Iterable[Mapping[str, Any]]) -> AuditRun:
    """An AuditRun from stored rows: provenance, suites, metrics, outcomes and findings (no views or
    examples: those stay in results.json; comparisons and the history need only these)."""
    results = {}
    for row in sorted(suites, key=lambda r: r["position"]):
        results[row["position"]] = SuiteResult(suite=row["suite"], suite_version=row["suite_version"],
                                                model=row["model"], status=Status(row["status"]),
                                                duration_s=row["duration_s"] or 0.0, error=row["error"])
    for row in metrics:
        results[row["suite_position"]].metrics.append(_metric(row))
    for row in outcomes:
        results[row["suite_position"]].outcomes.append(_outcomes(row))
    run_findings = []
    for row in findings:
        target = results[row["suite_position"]].findings if row["suite_position"] is not None else run_findings
        target.append(_finding(row))
    return AuditRun(run_id=run["run_id"], status=Status(run["status"]),
                    provenance=Provenance.model_validate_json(run["provenance"]),
                    suites=[results[k] for k in sorted(results)], findings=run_findings)


__all__ = ["build_run", "group_key", "pack_ids", "pack_values", "run_row", "suite_rows", "unpack_ids",
           "unpack_values"]
