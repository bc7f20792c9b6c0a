"""The Runner: config → jobs → suite results → gates → AuditRun, resumable after an interrupt.

Finished jobs are saved atomically under OUT/.state/; a second run with the same config
reuses them instead of recomputing (delete the folder or pass fresh=True to start over).
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError
from tqdm.auto import tqdm

from audit.models.adapters.base import ModelAdapter
from audit.config.schema import LoadedConfig, ModelSpec, format_validation_error
from audit.errors import AuditUserError, ConfigError
from audit.data.resolver import sha256_file
from audit.models.adapters.loading import model_fingerprint
from audit.models.resolve import ModelResolver, load_adapter
from audit.run.executors.local import Executor, LocalExecutor  # noqa: F401  (re-exported)
from audit.run.executors.select import executor_for
from audit.run.jobs import (Job, JobOutcome, ModelPool, RunContext, canonical_order, write_artifacts)
from audit.run.jobs import model_call_counts, model_provenance, truncation_finding  # noqa: F401  (re-exported)
from audit.regression.gates import apply_gates
from audit.regression.status import overall_status
from audit.io import atomic_write_text
from audit.run.provenance import code_fingerprint, git_revision, hardware, now_iso, package_versions, python_version
from audit.run.registry import load_suite
from audit.results import (AuditRun, DatasetProvenance, DerivedModelProvenance, ModelProvenance,
                           Provenance, Severity, Status, SuiteResult)

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


REAL_ADAPTER_LOADER = default_adapter_loader     # tests swap default_adapter_loader; the preflight asks


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
        """Resume the interrupted run in `folder` when its config, code and packages are the same."""
        meta_path = folder / "run.json"
        inputs = resume_inputs()
        if meta_path.exists() and not fresh:
            meta = json.loads(meta_path.read_text())
            changed = [k for k, v in inputs.items() if meta.get(k) != v]
            if meta.get("config_sha256") == config_sha256 and not changed:
                state = cls(folder, config_sha256, meta["run_id"], meta["started_at"])
                for path in sorted((folder / "jobs").glob("*.json")):
                    state.done[path.stem] = json.loads(path.read_text())
                return state
            if meta.get("config_sha256") == config_sha256:
                log.warning("not resuming run %s: the %s changed since it ran; every job is rerun",
                            meta.get("run_id"), " and ".join(k.replace("_sha256", "").replace("_", " ")
                                                             for k in changed))
        shutil.rmtree(folder, ignore_errors=True)
        state = cls(folder, config_sha256, uuid.uuid4().hex[:12], now_iso())
        atomic_write_text(meta_path, json.dumps({"config_sha256": config_sha256, "run_id": state.run_id,
                                                 "started_at": state.started_at, **inputs}))
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
        self.executor = executor or executor_for(loaded.config.executor, loaded.path)
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
                                                          prefix=f"suites[{i}].config", suite=run.suite)) from None
            for model in run.models or list(self.config.models):
                jobs.append(Job(index=i, suite=run.suite, model=model,
                                config=suite_config.model_dump(mode="json")))
        return jobs

    # ------------------------------------------------------------------ running
    def run_context(self) -> RunContext:
        """The picklable part of the runner that every job (in any process) gets."""
        return RunContext(models=dict(self.config.models), seed=self.config.seed,
                          config_dir=self.loaded.directory, prepared_dir=self.prepared_dir,
                          cache_dir=self.loaded.cache_dir, result_cache_dir=self.result_cache_dir,
                          out_dir=self.out_dir, adapter_loader=self.adapter_loader, suite_loader=load_suite,
                          show_progress=self.show_progress, executor=self.executor.kind)

    def run(self) -> AuditRun:
        jobs = self.plan()
        state = _State.open(self.out_dir / ".state", self.loaded.sha256, self.fresh)
        pool = ModelPool(ModelResolver.for_config(self.loaded), self.adapter_loader, self.result_cache_dir)
        reusable = self._reusable_jobs(state, pool)
        outcomes: dict[str, JobOutcome] = {}
        for job in jobs:
            if job.key in reusable:
                log.info("resumed %s (finished in an earlier, interrupted run)", job.key)
                record = state.done[job.key]
                outcomes[job.key] = JobOutcome(key=job.key, result=record["result"], model_name=record["model_name"],
                                               model=record["model"], datasets=record["datasets"],
                                               derived_models=record.get("derived_models", {}))
        by_key = {job.key: job for job in jobs}
        bar = tqdm(total=len(jobs), initial=len(outcomes), desc="audit jobs", unit="job",
                   disable=not self.show_progress)
        for outcome in self.executor.execute([j for j in jobs if j.key not in outcomes], self.run_context()):
            write_artifacts(outcome, self.out_dir)
            result = outcome.suite_result()
            if result.status != Status.ERROR and outcome.model is not None:
                state.save(by_key[outcome.key], outcome.state_record())   # only the driver writes state
            outcomes[outcome.key] = outcome
            bar.set_postfix_str(f"{result.suite}/{result.model}: {result.status.value}")
            bar.update(1)
        bar.close()
        results, models, datasets, derived = merge_outcomes([outcomes[j.key] for j in canonical_order(jobs)])

        run_findings = apply_gates(self.config.gates, results, on_inconclusive=self.config.on_inconclusive)
        for result in results:
            if result.status == Status.PASSED and any(f.severity == Severity.FAIL for f in result.findings):
                result.status = Status.FAILED
        provenance = Provenance(
            models=models, derived_models=derived, datasets=datasets, config_path=str(self.loaded.path),
            config_sha256=self.loaded.sha256, config=self.loaded.raw, packages=package_versions(),
            git_revision=git_revision(), python=python_version(), platform=_platform(), device=hardware(),
            seed=self.config.seed, started_at=state.started_at, finished_at=now_iso(),
            executor=self.executor.describe())
        return AuditRun(run_id=state.run_id, status=overall_status(results, run_findings),
                        provenance=provenance, suites=results, findings=run_findings)

    def _reusable_jobs(self, state: "_State", pool: ModelPool) -> set[str]:
        """Finished jobs of an interrupted run whose model still has the same content fingerprint
        (a model whose weights changed since must not reuse results computed from the old ones)."""
        current: dict[str, str | None] = {}
        reusable = set()
        for key, record in state.done.items():
            name = record["model_name"]
            if name not in self.config.models:
                continue
            if name not in current:
                current[name] = self.fingerprinter(name, pool.resolver.spec(name), self.prepared_dir)
            changed = changed_datasets(record.get("datasets", {}))
            if current[name] is None or current[name] != record["model"].get("sha256"):
                log.warning("not reusing %s: model %s changed since it ran", key, name)
            elif changed:
                log.warning("not reusing %s: dataset %s changed since it ran; rerunning it", key, changed[0])
            else:
                reusable.add(key)
        if reusable:
            log.warning("resuming run %s: %d finished job(s) of the interrupted run reused (--fresh to rerun "
                        "everything)", state.run_id, len(reusable))
        return reusable


def resume_inputs() -> dict[str, Any]:
    """Besides the config: what must be unchanged for a finished job to be reused."""
    return {"code_sha256": code_fingerprint(), "packages": package_versions()}


def changed_datasets(datasets: dict[str, Any]) -> list[str]:
    """The recorded dataset files whose content is not what the job read (or that are gone)."""
    changed = []
    for path, record in datasets.items():
        file = Path(path)
        if not file.is_file() or sha256_file(file) != record.get("sha256"):
            changed.append(path)
    return changed


def merge_outcomes(outcomes: list[JobOutcome]) -> tuple[list[SuiteResult], dict[str, ModelProvenance],
                                                      dict[str, DatasetProvenance],
                                                      dict[str, DerivedModelProvenance]]:
    """Results and provenance from outcomes given in canonical order (so every executor, and a
    resumed run, assemble the same results.json)."""
    models: dict[str, ModelProvenance] = {}
    datasets: dict[str, DatasetProvenance] = {}
    derived: dict[str, DerivedModelProvenance] = {}
    for outcome in outcomes:
        if outcome.model is not None:
            models.setdefault(outcome.model_name, ModelProvenance.model_validate(outcome.model))
        datasets.update({k: DatasetProvenance.model_validate(v) for k, v in outcome.datasets.items()})
        derived.update({k: DerivedModelProvenance.model_validate(v) for k, v in outcome.derived_models.items()})
    return [o.suite_result() for o in outcomes], models, datasets, derived


def _platform() -> str:
    import platform

    return platform.platform()

