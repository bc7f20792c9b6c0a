"""Run (model × suite) jobs in this process, one model loaded at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

from audit.results import SuiteResult


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


class Executor(Protocol):
    def execute(self, jobs: list[Job], run_job: Callable[[Job], SuiteResult]) -> Iterator[SuiteResult]: ...


class LocalExecutor:
    """Runs jobs in order, grouped by model so each model is loaded once."""

    def execute(self, jobs: list[Job], run_job: Callable[[Job], SuiteResult]) -> Iterator[SuiteResult]:
        order = sorted(jobs, key=lambda j: ([j.model for j in jobs].index(j.model), j.index))
        for job in order:
            yield run_job(job)
