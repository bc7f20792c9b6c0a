"""The Executor protocol and the in-process executor: jobs run in order, one model loaded at a time."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol

from audit.run.jobs import Job, JobOutcome, ModelPool, RunContext, canonical_order, run_job

__all__ = ["Executor", "Job", "LocalExecutor"]


class Executor(Protocol):
    """Runs `run_job(ctx, job, pool)` for every job and yields the outcomes (in any order)."""

    kind: str

    def execute(self, jobs: list[Job], ctx: RunContext) -> Iterator[JobOutcome]: ...

    def describe(self) -> dict[str, Any]:
        """The executor's settings and workers, for provenance (never part of the config hash)."""
        ...


class LocalExecutor:
    """Runs jobs in this process, grouped by model so each model is loaded once."""

    kind = "local"

    def __init__(self, job_function: Callable[..., JobOutcome] = run_job) -> None:
        self.job_function = job_function

    def execute(self, jobs: list[Job], ctx: RunContext) -> Iterator[JobOutcome]:
        pool = ModelPool.for_context(ctx)
        try:
            for job in canonical_order(jobs):
                yield self.job_function(ctx, job, pool)
        finally:
            pool.current = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind}
