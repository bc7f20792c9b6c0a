"""A job as a pure function: picklable RunContext + Job + ModelPool in, a JSON-able JobOutcome out.

Every executor (in-process, Ray actors, ...) calls `run_job`; only the driver (the Runner) writes the
resume state and merges provenance, so shipping a job to another process cannot change a number.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import logging
import os
import platform
import random
import socket
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from audit.config.schema import ModelSpec
from audit.data.resolver import DataResolver
from audit.errors import AuditUserError
from audit.models.adapters.base import ModelAdapter, require
from audit.models.adapters.gpu import cpu_isa
from audit.models.local_factory import LocalModelFactory
from audit.models.resolve import ModelResolver
from audit.results import Finding, ModelProvenance, Severity, Status, SuiteResult
from audit.run.suite import Context, null_progress

log = logging.getLogger("audit")

AdapterLoader = Callable[[str, ModelSpec, Path, Path | None], ModelAdapter]
SuiteLoader = Callable[..., Any]
ARTIFACT_SHIP_LIMIT = 64 * 2**20      # bytes of artifacts one job may send back to the driver


@dataclass(frozen=True)
class Job:
    """One suite on one model: plain data, so another executor (e.g. Ray) can ship it."""

    index: int            # position in config.suites
    suite: str
    model: str
    config: dict[str, Any]  # the suite's validated config, dumped

    @property
    def key(self) -> str:
        return f"{self.index:02d}-{self.suite}-{self.model}"


@dataclass(frozen=True)
class RunContext:
    """Everything a job needs besides the Job itself; picklable (paths, specs, module-level functions)."""

    models: dict[str, ModelSpec]
    seed: int
    config_dir: Path
    prepared_dir: Path
    cache_dir: Path
    result_cache_dir: Path | None
    out_dir: Path
    adapter_loader: AdapterLoader
    suite_loader: SuiteLoader
    show_progress: bool = False
    ship_artifacts: bool = False      # send artifact files back in the outcome (driver on another node)
    executor: str = "local"
    trainer: Any = None               # derived-model trainer (None: the default fine-tuner; plans record)


@dataclass
class JobOutcome:
    """What a job sends back: all JSON-able, so it crosses any process or node boundary."""

    key: str
    result: dict[str, Any]
    model_name: str
    model: dict[str, Any] | None = None                 # ModelProvenance, None when the load failed
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    derived_models: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)  # {path, sha256, size[, data_b64]}
    worker: dict[str, Any] = field(default_factory=dict)

    def suite_result(self) -> SuiteResult:
        return SuiteResult.model_validate(self.result)

    def state_record(self) -> dict[str, Any]:
        """The resume-state record (the format the Runner has always written under .state/jobs/)."""
        return {"result": self.result, "model_name": self.model_name, "model": self.model,
                "datasets": self.datasets, "derived_models": self.derived_models}


@dataclass
class ModelPool:
    """Holds one loaded model at a time (jobs come grouped by model); the resolver owns the specs."""

    resolver: ModelResolver
    loader: AdapterLoader
    cache_dir: Path | None
    current: tuple[str, ModelAdapter] | None = None

    @classmethod
    def for_context(cls, ctx: RunContext) -> "ModelPool":
        resolver = ModelResolver(ctx.models, config_dir=ctx.config_dir, prepared_dir=ctx.prepared_dir,
                                 derived_dir=ctx.cache_dir / "derived")
        return cls(resolver, ctx.adapter_loader, ctx.result_cache_dir)

    def get(self, name: str) -> ModelAdapter:
        if self.current and self.current[0] == name:
            return self.current[1]
        self.current = None
        gc.collect()
        adapter = self.loader(name, self.resolver.spec(name), self.resolver.prepared_dir, self.cache_dir)
        self.current = (name, adapter)
        return adapter


def job_seed(seed: int, key: str) -> int:
    """The seed of one job's process-global RNGs: the same wherever and in whatever order it runs."""
    return int.from_bytes(hashlib.sha256(repr((seed, key)).encode()).digest()[:4], "little")


def reseed_globals(seed: int, key: str) -> int:
    """Reseed Python's, NumPy's and torch's global generators (code that forgets ctx.rng stays repeatable)."""
    value = job_seed(seed, key)
    random.seed(value)
    np.random.seed(value)
    try:
        import torch

        torch.manual_seed(value)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return value


def model_provenance(adapter: ModelAdapter) -> ModelProvenance:
    info_fn = getattr(adapter, "model_info", None)
    info = dict(info_fn()) if callable(info_fn) else {}
    if str(info.get("device", "")).startswith("cpu"):
        info.setdefault("cpu_isa", cpu_isa())          # bf16/fp32 kernels differ by instruction set
    return ModelProvenance(path=str(info.get("path", "")), sha256=adapter.fingerprint,
                           kind=adapter.kind.value, details=info)


def truncation_finding(count: int, adapter: ModelAdapter) -> Finding:
    limit = getattr(adapter, "max_length", None)
    return Finding(severity=Severity.WARN, metric=None,
                   message=f"{count} input(s) were longer than the model's max_length ({limit} tokens) and "
                           f"were truncated: the model saw only part of them",
                   evidence={"truncated_inputs": count, "max_length": limit})


def model_call_counts(adapter: ModelAdapter) -> dict[str, int]:
    """Cache hits/misses and forward passes so far (adapters that count them), for run logs."""
    counts: dict[str, int] = {}
    stats = getattr(adapter, "cache_stats", None)
    if stats is not None:
        counts.update(cache_hits=stats.hits, cache_misses=stats.misses)
    for name in ("forward_passes", "truncated_inputs"):
        value = getattr(adapter, name, None)
        if isinstance(value, int):
            counts[name] = value
    return counts


def undeclared_metrics(suite: Any, result: SuiteResult) -> list[str]:
    """Metric names a suite emitted without declaring them in `metrics` (none when it declares nothing)."""
    declared = getattr(suite, "metrics", None)
    if declared is None or not (declared.names or declared.families):
        return []
    return sorted({m.name for m in result.metrics if not declared.declares(m.name)})


def worker_info(ctx: RunContext) -> dict[str, Any]:
    return {"executor": ctx.executor, "host": socket.gethostname(), "pid": os.getpid(),
            "platform": platform.platform()}


def run_job(ctx: RunContext, job: Job, pool: ModelPool, progress: Any = None) -> JobOutcome:
    """Run one job; never raises for a suite's own failure (it becomes an error result)."""
    reseed_globals(ctx.seed, job.key)
    suite_cls = ctx.suite_loader(job.suite)
    resolver = DataResolver(ctx.config_dir, ctx.prepared_dir)
    spec = ctx.models[job.model]
    factory = LocalModelFactory(prepared_dir=ctx.prepared_dir, cache_dir=ctx.cache_dir,
                                result_cache_dir=ctx.result_cache_dir, loader=ctx.adapter_loader,
                                device=spec.device, trainer=ctx.trainer)
    artifacts_dir = ctx.out_dir / "artifacts" / job.key
    provenance: ModelProvenance | None = None
    started = time.perf_counter()
    try:
        adapter = pool.get(job.model)
        provenance = model_provenance(adapter)
        config = suite_cls.Config.model_validate(job.config)
        suite = suite_cls()
        require(adapter, *suite.required_capabilities(config))
        bars = progress or (_tqdm() if ctx.show_progress else null_progress)
        context = Context(model_name=job.model, adapter=adapter, config=config, seed=ctx.seed, data=resolver,
                          artifacts_dir=artifacts_dir, progress=bars, models=factory, model_ref=spec.path)
        before = model_call_counts(adapter)
        result = suite.run(context)
        after = model_call_counts(adapter)
        calls = {k: after[k] - before.get(k, 0) for k in after}
        result.details["model_calls"] = calls
        if calls.get("truncated_inputs", 0) > 0:
            result.findings.append(truncation_finding(calls["truncated_inputs"], adapter))
        undeclared = undeclared_metrics(suite, result)
        if undeclared:
            result.findings.append(Finding(
                severity=Severity.WARN, message=f"{job.suite} emitted metric names it does not declare "
                f"(gates and the compliance mapping cannot be checked against them): {', '.join(undeclared)}",
                evidence={"undeclared_metrics": undeclared}))
    except AuditUserError as exc:
        log.error("%s on %s: %s", job.suite, job.model, exc)
        result = SuiteResult(suite=job.suite, suite_version=suite_cls.version, model=job.model,
                             status=Status.ERROR, error=str(exc),
                             details={"error_type": type(exc).__name__, "user_error": True})
    except Exception as exc:  # a bug in a suite must not lose the other suites' results
        log.exception("%s on %s crashed", job.suite, job.model)
        result = SuiteResult(suite=job.suite, suite_version=suite_cls.version, model=job.model,
                             status=Status.ERROR, error=f"{type(exc).__name__}: {exc}",
                             details={"traceback": traceback.format_exc(limit=20)})
    result.duration_s = round(time.perf_counter() - started, 3)
    made = {f"{job.model}/{name}": p.model_dump(mode="json") for name, p in factory.derived.items()}
    return JobOutcome(key=job.key, result=result.model_dump(mode="json"), model_name=job.model,
                      model=provenance.model_dump(mode="json") if provenance else None,
                      datasets={k: v.model_dump(mode="json") for k, v in resolver.seen.items()},
                      derived_models=made, artifacts=list_artifacts(artifacts_dir, ctx.out_dir, ctx.ship_artifacts),
                      worker=worker_info(ctx))


def _tqdm() -> Any:
    from tqdm.auto import tqdm

    return tqdm


def list_artifacts(folder: Path, root: Path, ship: bool) -> list[dict[str, Any]]:
    """The files a job wrote (path relative to the output folder, sha256, size; content when shipped)."""
    found = []
    shipped = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []:
        data = path.read_bytes()
        entry: dict[str, Any] = {"path": path.relative_to(root).as_posix(),
                                 "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        if ship and shipped + len(data) <= ARTIFACT_SHIP_LIMIT:
            entry["data_b64"] = base64.b64encode(data).decode("ascii")
            shipped += len(data)
        found.append(entry)
    return found


def write_artifacts(outcome: JobOutcome, root: Path) -> None:
    """On the driver: write shipped artifact files that are not already there with that content."""
    for entry in outcome.artifacts:
        data = entry.get("data_b64")
        target = root / entry["path"]
        if data is None or (target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == entry["sha256"]):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data))


def canonical_order(jobs: list[Job]) -> list[Job]:
    """The order the local executor runs jobs in (grouped by model in first-appearance order, then
    config order); results and provenance are always assembled in this order."""
    first = {}
    for job in jobs:
        first.setdefault(job.model, len(first))
    return sorted(jobs, key=lambda j: (first[j.model], j.index))
