"""A configured time or query budget, checked against a plan before anything loads."""

from __future__ import annotations

from pathlib import Path

from audit.config.executor import BudgetSpec
from audit.errors import ConfigError
from audit.config.schema import load_config
from audit.plan.estimate import RunPlan, plan_config
from audit.results import AuditRun

PLAN_DETAIL = "plan"      # SuiteResult.details key holding the plan's estimate next to the real time


class BudgetExceeded(ConfigError):
    """The plan of a run exceeds its configured budget (exit 2, nothing was loaded)."""


def over_budget(plan: RunPlan, budget: BudgetSpec | None) -> str | None:
    """Why `plan` breaks `budget` (one line), or None when it fits."""
    if budget is None:
        return None
    reasons = []
    if budget.max_seconds is not None and plan.estimate_s > budget.max_seconds:
        worst = max(plan.jobs, key=lambda j: j.estimate_s)
        reasons.append(f"estimated {plan.estimate_s:.0f} s > budget.max_seconds {budget.max_seconds:g} "
                       f"(largest job {worst.key}: {worst.estimate_s:.0f} s)")
    uncached = sum(j.total_requests - j.total_hits for j in plan.jobs)
    if budget.max_requests is not None and uncached > budget.max_requests:
        reasons.append(f"{uncached} uncached model requests > budget.max_requests {budget.max_requests}")
    return "; ".join(reasons) or None


def enforce(plan: RunPlan, budget: BudgetSpec | None, where: str) -> None:
    reason = over_budget(plan, budget)
    if reason is not None:
        raise BudgetExceeded(f"{where}: run refused, over budget: {reason}")


def attach_plan(run: AuditRun, plan: RunPlan) -> None:
    """Keep the plan's estimate next to the measured time in each suite result (results.json)."""
    by_job = {(j.suite, j.model): [] for j in plan.jobs}
    for job in plan.jobs:
        by_job[(job.suite, job.model)].append(job)
    for result in run.suites:
        queue = by_job.get((result.suite, result.model))
        if queue:
            job = queue.pop(0)
            result.details[PLAN_DETAIL] = {"estimate_s": job.estimate_s, "measured_s": result.duration_s,
                                           "requests": job.total_requests, "cache_hits": job.total_hits,
                                           "padded_tokens": job.padded_tokens, "real_tokens": job.real_tokens}


def plan_for_run(config_path: Path, always: bool = False) -> RunPlan | None:
    """The plan `run` makes first when asked (--plan) or when the config has a budget (then enforced)."""
    loaded = load_config(config_path)
    if not always and loaded.config.budget is None:
        return None
    plan = plan_config(loaded)
    enforce(plan, loaded.config.budget, str(config_path))
    return plan
