"""The Runner: config → jobs → suite results → gates → AuditRun, resumable after an interrupt.

Finished jobs are saved atomically under OUT/.state/; a second run with the same config
reuses them instead of recomputing (delete the folder or pass fresh=True to start over).
"""

from __future__ import annotations

import gc
import json
import logging
import shutil
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError
from tqdm.auto import tqdm

from audit.models.adapters.base import ModelAdapter, require
from audit.config.schema import LoadedConfig, ModelSpec, format_validation_error
from audit.data.resolver import DataResolver
from audit.errors import AuditUserError, ConfigError
from audit.run.executors.local import Executor, Job, LocalExecutor
from audit.regression.gates import apply_gates
from audit.regression.status import overall_status
from audit.io import atomic_write_text
from audit.run.provenance import git_revision, hardware, now_iso, package_versions, python_version
from audit.run.registry import load_suite
from audit.models.adapters.loading import model_fingerprint
from audit.models.local_factory import LocalModelFactory
from audit.models.resolve import ModelResolver, load_adapter
from audit.results import (AuditRun, DatasetProvenance, DerivedModelProvenance, Finding, ModelProvenance,
                           Provenance, Severity, Status, SuiteResult)
from audit.run.suite import Context, null_progress

log = logging.getLogger("audit")

AdapterLoader = Callable[[str, ModelSpec, Path, Path | None], ModelAdapter]
Fingerprinter = Callable[[str, ModelSpec, Path], "str | None"]


def default_adapter_loader(name: str, spec: ModelSpec, prepared_dir: Path,
                           cache_dir: Path | None) -> ModelAdapter:
    return load_adapter(name, spec, prepared_dir=prepared_dir, cache_dir=cache_dir)


def default_fingerprinter(name: str, spec: ModelSpec, prepared_dir: Path) -> str | None:
    """The model's content fingerprint without loading it; None when it cannot be read (then no
    finished job of that model is reused: the load will report the problem)."""
    try:
        return model_fingerprint(name, spec, prepared_dir)
    except AuditUserError:
        return None


@dataclass
class _AdapterPool:
    """Holds one loaded model at a time (jobs come grouped by model); the resolver owns the specs."""

    resolver: ModelResolver
    loader: AdapterLoader
    cache_dir: Path | None
    current: tuple[str, ModelAdapter] | None = None

    def get(self, name: str) -> ModelAdapter:
        if self.current and self.current[0] == name:
            return self.current[1]
        self.current = None
        gc.collect()
        adapter = self.loader(name, self.resolver.spec(name), self.resolver.prepared_dir, self.cache_dir)
        self.current = (name, adapter)
        return adapter


def model_provenance(adapter: ModelAdapter) -> ModelProvenance:
    info_fn = getattr(adapter, "model_info", None)
    info = info_fn() if callable(info_fn) else {}
    return ModelProvenance(path=str(info.get("path", "")), sha256=adapter.fingerprint,
                           kind=adapter.kind.value, details=info)


def truncation_finding(count: int, adapter: ModelAdapter) -> Finding:
    limit = getattr(adapter, "max_length", None)
    return Finding(severity=Severity.WARN, metric=None,
                   message=f"{count} input(s) were longer than the model's max_length ({limit} tokens) and "
                           f"were truncated: the model saw only part of them",
                   evidence={"truncated_inputs": count, "max_length": limit})


@dataclass
class _State:
    """The resumable part of a run: finished jobs and their provenance."""

    folder: Path
    config_sha256: str
    run_id: str = ""
    started_at: str = ""
    done: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, folder: Path, config_sha256: str, fresh: bool) -> "_State":
        meta_path = folder / "run.json"
        if meta_path.exists() and not fresh:
            meta = json.loads(meta_path.read_text())
            if meta.get("config_sha256") == config_sha256:
                state = cls(folder, config_sha256, meta["run_id"], meta["started_at"])
                for path in sorted((folder / "jobs").glob("*.json")):
                    state.done[path.stem] = json.loads(path.read_text())
                return state
        shutil.rmtree(folder, ignore_errors=True)
        state = cls(folder, config_sha256, uuid.uuid4().hex[:12], now_iso())
        atomic_write_text(meta_path, json.dumps({"config_sha256": config_sha256, "run_id": state.run_id,
                                                 "started_at": state.started_at}))
        return state

    def save(self, job: Job, record: dict[str, Any]) -> None:
        self.done[job.key] = record
        atomic_write_text(self.folder / "jobs" / f"{job.key}.json", json.dumps(record))


class Runner:
    """Runs every (suite × model) job of a config and assembles the AuditRun."""

    def __init__(self, loaded: LoadedConfig, out_dir: Path, *, fresh: bool = False,
                 executor: Executor | None = None, adapter_loader: AdapterLoader = default_adapter_loader,
                 fingerprinter: Fingerprinter = default_fingerprinter, show_progress: bool = True) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.out_dir = Path(out_dir)
        self.fresh = fresh
        self.executor = executor or LocalExecutor()
        self.adapter_loader = adapter_loader
        self.fingerprinter = fingerprinter
        self.show_progress = show_progress
        self.prepared_dir = loaded.cache_dir / "prepared"
        self.result_cache_dir = loaded.cache_dir / "results"

    # ------------------------------------------------------------------ planning
    def plan(self) -> list[Job]:
        """Validate every suite block against its suite's Config; errors name the key path."""
        jobs = []
        for i, run in enumerate(self.config.suites):
            suite_cls = load_suite(run.suite, where=f"{self.loaded.path}: suites[{i}].suite")
            try:
                suite_config = suite_cls.Config.model_validate(run.config)
            except ValidationError as exc:
                raise ConfigError(format_validation_error(exc, str(self.loaded.path),
                                                          prefix=f"suites[{i}].config")) from None
            for model in run.models or list(self.config.models):
                jobs.append(Job(index=i, suite=run.suite, model=model,
                                config=suite_config.model_dump(mode="json")))
        return jobs

    # ------------------------------------------------------------------ running
    def run(self) -> AuditRun:
        jobs = self.plan()
        state = _State.open(self.out_dir / ".state", self.loaded.sha256, self.fresh)
        pool = _AdapterPool(ModelResolver.for_config(self.loaded), self.adapter_loader, self.result_cache_dir)
        models: dict[str, ModelProvenance] = {}
        datasets: dict[str, DatasetProvenance] = {}
        derived: dict[str, DerivedModelProvenance] = {}
        reusable = self._reusable_jobs(state, pool)
        for key in reusable:
            record = state.done[key]
            models[record["model_name"]] = ModelProvenance.model_validate(record["model"])
            datasets.update({k: DatasetProvenance.model_validate(v) for k, v in record["datasets"].items()})
            derived.update({k: DerivedModelProvenance.model_validate(v)
                            for k, v in record.get("derived_models", {}).items()})

        def run_job(job: Job) -> SuiteResult:
            if job.key in reusable:
                log.info("resumed %s (finished in an earlier, interrupted run)", job.key)
                return SuiteResult.model_validate(state.done[job.key]["result"])
            resolver = DataResolver(self.loaded.directory, self.prepared_dir)
            factory = self._factory(job, pool)
            result = self._run_one(job, pool, resolver, models, factory)
            datasets.update(resolver.seen)
            made = {f"{job.model}/{name}": p for name, p in factory.derived.items()}
            derived.update(made)
            if result.status != Status.ERROR and job.model in models:
                state.save(job, {"result": result.model_dump(mode="json"), "model_name": job.model,
                                 "model": models[job.model].model_dump(mode="json"),
                                 "datasets": {k: v.model_dump(mode="json") for k, v in resolver.seen.items()},
                                 "derived_models": {k: v.model_dump(mode="json") for k, v in made.items()}})
            return result

        bar = tqdm(total=len(jobs), desc="audit jobs", unit="job", disable=not self.show_progress)
        results = []
        for result in self.executor.execute(jobs, run_job):
            results.append(result)
            bar.set_postfix_str(f"{result.suite}/{result.model}: {result.status.value}")
            bar.update(1)
        bar.close()
        pool.current = None

        run_findings = apply_gates(self.config.gates, results)
        for result in results:
            if result.status == Status.PASSED and any(f.severity == Severity.FAIL for f in result.findings):
                result.status = Status.FAILED
        provenance = Provenance(
            models=models, derived_models=derived, datasets=datasets, config_path=str(self.loaded.path),
            config_sha256=self.loaded.sha256, config=self.loaded.raw, packages=package_versions(),
            git_revision=git_revision(), python=python_version(), platform=_platform(), device=hardware(),
            seed=self.config.seed, started_at=state.started_at, finished_at=now_iso())
        return AuditRun(run_id=state.run_id, status=overall_status(results, run_findings),
                        provenance=provenance, suites=results, findings=run_findings)

    def _reusable_jobs(self, state: "_State", pool: "_AdapterPool") -> set[str]:
        """Finished jobs of an interrupted run whose model still has the same content fingerprint
        (a model whose weights changed since must not reuse results computed from the old ones)."""
        current: dict[str, str | None] = {}
        reusable = set()
        for key, record in state.done.items():
            name = record["model_name"]
            if name not in self.config.models:
                continue
            if name not in current:
                current[name] = self.fingerprinter(name, pool.resolver.spec(name),
                                                   self.prepared_dir)
            if current[name] is not None and current[name] == record["model"].get("sha256"):
                reusable.add(key)
            else:
                log.warning("not reusing %s: model %s changed since it ran", key, name)
        return reusable

    def _factory(self, job: Job, pool: "_AdapterPool") -> LocalModelFactory:
        spec = self.config.models[job.model]
        return LocalModelFactory(prepared_dir=self.prepared_dir, cache_dir=self.loaded.cache_dir,
                                 result_cache_dir=self.result_cache_dir, loader=self.adapter_loader,
                                 device=spec.device)

    def _run_one(self, job: Job, pool: _AdapterPool, resolver: DataResolver,
                 models: dict[str, ModelProvenance], factory: LocalModelFactory) -> SuiteResult:
        suite_cls = load_suite(job.suite)
        suite = suite_cls()
        started = time.perf_counter()
        try:
            adapter = pool.get(job.model)
            models.setdefault(job.model, model_provenance(adapter))
            config = suite_cls.Config.model_validate(job.config)
            require(adapter, *suite.required_capabilities(config))
            ctx = Context(model_name=job.model, adapter=adapter, config=config, seed=self.config.seed,
                          data=resolver, artifacts_dir=self.out_dir / "artifacts" / job.key,
                          progress=tqdm if self.show_progress else null_progress, models=factory,
                          model_ref=self.config.models[job.model].path)
            before = model_call_counts(adapter)
            result = suite.run(ctx)
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
        return result


def undeclared_metrics(suite: Any, result: SuiteResult) -> list[str]:
    """Metric names a suite emitted without declaring them in `metrics` (none when it declares nothing)."""
    declared = getattr(suite, "metrics", None)
    if declared is None or not (declared.names or declared.families):
        return []
    return sorted({m.name for m in result.metrics if not declared.declares(m.name)})


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


def _platform() -> str:
    import platform

    return platform.platform()

