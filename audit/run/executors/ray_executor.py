"""Run jobs on a Ray cluster: one actor per model loads its adapter once and runs that model's jobs
in config order; models run in parallel; results come back as JobOutcomes to the driver.

Ray is an optional extra (`pip install 'rai-audit[ray]'`). Every job calls the same `run_job` as the
local executor and reseeds the global RNGs from (seed, job key), so results equal the local ones.
Retries are safe because jobs are idempotent: the driver alone writes the resume state.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
from typing import Any, Iterator

from audit.config.executor import ExecutorSpec
from audit.errors import ConfigError
from audit.models.adapters.cache import CACHE_FILE_NAME
from audit.models.adapters.shared_cache import FileCacheService, SharedCacheLoader, SqlBackendFactory
from audit.run.jobs import Job, JobOutcome, ModelPool, RunContext, canonical_order, run_job
from audit.results import Status, SuiteResult
from audit.run.provenance import PROJECT_ROOT

log = logging.getLogger("audit.ray")
RAY_HINT = "executor kind 'ray' needs Ray: pip install 'rai-audit[ray]' (or 'ray==2.60.*')"
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_HINT) from None
    return ray


class ModelWorker:
    """A Ray actor holding one model: the adapter is loaded on the first job and kept for the rest."""

    def __init__(self, ctx: RunContext, torch_threads: int) -> None:
        import torch

        torch.set_num_threads(torch_threads)
        self.ctx = ctx
        self.pool = ModelPool.for_context(ctx)

    def run(self, job: Job) -> dict[str, Any]:
        progress = ray_progress if self.ctx.show_progress else None
        outcome = run_job(self.ctx, job, self.pool, progress=progress)
        outcome.worker.update(node_id=import_ray().get_runtime_context().get_node_id())
        return dataclasses.asdict(outcome)


def ray_progress(iterable: Any = None, total: int | None = None, desc: str | None = None, **_: Any) -> Any:
    """A progress bar whose updates Ray forwards to the driver's terminal."""
    from ray.experimental import tqdm_ray

    return tqdm_ray.tqdm(iterable, desc=desc, total=total)


@dataclasses.dataclass(frozen=True)
class ServiceBackend:
    """The cache service (a named actor on the driver's node) seen from a worker."""

    actor_name: str
    namespace: str

    def __call__(self) -> "ServiceBackend":
        return self

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        ray = import_ray()
        return ray.get(ray.get_actor(self.actor_name, namespace=self.namespace).get_many.remote(keys))

    def put_many(self, items: dict[str, Any]) -> None:
        ray = import_ray()
        ray.get(ray.get_actor(self.actor_name, namespace=self.namespace).put_many.remote(items))


class RayExecutor:
    """`executor: {kind: ray, address: auto | ray://HOST:10001}`; no address starts a local cluster."""

    kind = "ray"

    def __init__(self, spec: ExecutorSpec | None = None) -> None:
        self.spec = spec or ExecutorSpec(kind="ray")
        self.workers: dict[str, dict[str, Any]] = {}

    def describe(self) -> dict[str, Any]:
        settings = self.spec.model_dump(mode="json", exclude={"cache_url"})
        settings["cache"] = "sqlalchemy" if self.spec.cache_url else "service"
        return {**settings, "workers": self.workers}

    def _gpus(self, ctx: RunContext, model: str) -> float:
        if self.spec.num_gpus is not None:
            return self.spec.num_gpus
        return 1.0 if ctx.models[model].device.startswith("cuda") else 0.0

    def _thread_env(self) -> dict[str, str]:
        """Every thread pool of an actor at torch_threads: Ray sets OMP_NUM_THREADS to the actor's num_cpus,
        and a BLAS or OpenMP reduction over another thread count moves results in the last bits (the DP
        accountant did), so a Ray run would not equal a local one. Variables the user set are kept."""
        user = (self.spec.runtime_env or {}).get("env_vars") or {}
        threads = str(self.spec.torch_threads)
        return {k: user.get(k, threads) for k in THREAD_ENV_VARS}

    def _init(self, ray: Any) -> bool:
        if ray.is_initialized():
            return False
        env = dict(self.spec.runtime_env or {})
        if self.spec.address in (None, "local"):
            env.setdefault("env_vars", {}).setdefault(   # local workers import this checkout
                "PYTHONPATH", os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p))
        ray.init(address=None if self.spec.address in (None, "local") else self.spec.address,
                 runtime_env=env or None, namespace="rai-audit", log_to_driver=True)
        return True

    def _cache_loader(self, ray: Any, ctx: RunContext) -> tuple[SharedCacheLoader, Any]:
        if self.spec.cache_url:
            return SharedCacheLoader(ctx.adapter_loader, SqlBackendFactory(self.spec.cache_url)), None
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        name = f"rai-audit-cache-{uuid.uuid4().hex[:8]}"
        namespace = ray.get_runtime_context().namespace
        node = ray.get_runtime_context().get_node_id()       # the driver's node owns the SQLite file
        path = str((ctx.result_cache_dir or ctx.cache_dir / "results") / CACHE_FILE_NAME)
        service = ray.remote(FileCacheService).options(
            name=name, num_cpus=0, max_restarts=-1, max_task_retries=-1,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False)).remote(path)
        ray.get(service.ping.remote())
        return SharedCacheLoader(ctx.adapter_loader, ServiceBackend(name, namespace)), service

    def execute(self, jobs: list[Job], ctx: RunContext) -> Iterator[JobOutcome]:
        if not jobs:
            return
        ray = import_ray()
        started = self._init(ray)
        actors: dict[str, Any] = {}
        service = None
        try:
            loader, service = self._cache_loader(ray, ctx)
            shipped = dataclasses.replace(ctx, adapter_loader=loader, ship_artifacts=True, executor=self.kind)
            worker_cls = ray.remote(ModelWorker)
            pending: dict[Any, Job] = {}
            for job in canonical_order(jobs):          # each actor gets its model's jobs in config order
                if job.model not in actors:
                    actors[job.model] = worker_cls.options(
                        num_cpus=self.spec.num_cpus, num_gpus=self._gpus(ctx, job.model),
                        max_restarts=self.spec.max_restarts, max_task_retries=self.spec.max_task_retries,
                        max_concurrency=1, runtime_env={"env_vars": self._thread_env()}
                    ).remote(shipped, self.spec.torch_threads)
                pending[actors[job.model].run.remote(job)] = job
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    job = pending.pop(ref)
                    try:
                        outcome = JobOutcome(**ray.get(ref))
                    except ray.exceptions.RayError as exc:   # the actor died more often than retried
                        outcome = lost_job(ctx, job, exc)
                    self.workers[job.key] = {k: outcome.worker.get(k) for k in ("host", "pid", "node_id")}
                    yield outcome
        finally:
            for actor in actors.values():
                ray.kill(actor)
            if service is not None:
                ray.kill(service)
            if started:
                ray.shutdown()


def failure_message(exc: Exception) -> str:
    """One line: the exception a job raised on its worker (a RayTaskError's cause, whose text is a
    remote traceback ending in the message), or how the worker died."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
        return f"the job raised {type(cause).__name__} on its Ray worker: {(lines[-1] if lines else '')[:300]}"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"the Ray worker running this job died: {type(exc).__name__}: {(lines[-1] if lines else '')[:300]}"


def lost_job(ctx: RunContext, job: Job, exc: Exception) -> JobOutcome:
    """An error result for a job whose worker kept dying (no resume state is written for it)."""
    version = ctx.suite_loader(job.suite).version
    result = SuiteResult(suite=job.suite, suite_version=version, model=job.model, status=Status.ERROR,
                         error=failure_message(exc), details={"error_type": type(exc).__name__})
    return JobOutcome(key=job.key, result=result.model_dump(mode="json"), model_name=job.model,
                      worker={"executor": "ray"})
