"""Run lm-eval tasks through OUR adapter, so batching, device and caching stay in one place.

`AdapterLM` is an `lm_eval.api.model.LM` that hands each whole request list to the adapter
in one call (lm-eval gathers every request of every task first). `run_tasks` runs
`lm_eval.simple_evaluate` offline and returns, per task and metric, the per-document
outcomes (from `log_samples`) from which the suite computes n and bootstrap CIs itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from lm_eval.api.model import LM

from audit.models.adapters.base import ModelAdapter
from audit.errors import CapabilityError, ConfigError

# lm-eval reports metrics as "<metric>,<filter>"; loglikelihood tasks use the "none" filter.
LM_EVAL_FILTER = "none"
# Per-sample metrics we turn into Metrics/Outcomes (others are reported only in details).
PER_SAMPLE_METRICS = ("acc", "acc_norm")
# Document fields that define breakdowns (e.g. BBQ's category), reported as group {field: value}.
GROUP_FIELDS = ("category",)


class AdapterLM(LM):
    """lm-eval model backed by a ModelAdapter: one adapter call per request list."""

    def __init__(self, adapter: ModelAdapter) -> None:
        super().__init__()
        self.adapter = adapter

    def loglikelihood(self, requests: Sequence[Any]) -> list[tuple[float, bool]]:
        if not requests:
            return []
        pairs = [(str(r.args[0]), str(r.args[1])) for r in requests]
        results = self.adapter.loglikelihood(pairs)
        return [(float(r.logprob), bool(r.is_greedy)) for r in results]

    def loglikelihood_rolling(self, requests: Sequence[Any]) -> list[float]:
        """Sum of per-token log-probs; the adapter scores every token after the first."""
        if not requests:
            return []
        scored = self.adapter.token_logprobs([str(r.args[0]) for r in requests])
        return [float(s.total) for s in scored]

    def generate_until(self, requests: Sequence[Any]) -> list[str]:
        raise CapabilityError(
            "accuracy.lm_eval: generation tasks (output_type generate_until) are not supported yet; "
            "use multiple_choice / loglikelihood tasks")

    def get_model_info(self) -> dict[str, Any]:
        return {"adapter": type(self.adapter).__name__, "model_name": self.adapter.name,
                "fingerprint": self.adapter.fingerprint}


@dataclass(frozen=True)
class TaskOutcomes:
    """Per-document results of one lm-eval task."""

    task: str
    doc_ids: list[str]
    values: dict[str, list[float]]      # metric -> per-document value, aligned with doc_ids
    aggregate: dict[str, float]         # lm-eval's own aggregate numbers (for cross-checking)
    groups: dict[str, list[str]]        # breakdown field -> per-document value, aligned with doc_ids


@dataclass(frozen=True)
class LmEvalRun:
    tasks: list[str]
    include_paths: list[Path]
    limit: int | None
    num_fewshot: int
    seed: int


def _task_manager(include_paths: list[Path], tasks: list[str]) -> Any:
    """Index only our folders unless a task lives in lm-eval's own collection (which needs the hub)."""
    from lm_eval.tasks import TaskManager

    local = TaskManager(include_path=[str(p) for p in include_paths], include_defaults=False)
    if all(t in local.all_tasks for t in tasks):
        return local
    full = TaskManager(include_path=[str(p) for p in include_paths])
    unknown = [t for t in tasks if t not in full.all_tasks]
    if unknown:
        raise ConfigError(
            f"accuracy.lm_eval.tasks: unknown task(s) {', '.join(map(repr, unknown))}; not shipped, "
            f"not in include_path ({', '.join(map(str, include_paths)) or 'none'}), not an lm-eval task")
    return full


def run_tasks(adapter: ModelAdapter, run: LmEvalRun) -> dict[str, TaskOutcomes]:
    """Evaluate `run.tasks` with lm-eval through the adapter; per-document outcomes per task."""
    import lm_eval

    manager = _task_manager(run.include_paths, run.tasks)
    output = lm_eval.simple_evaluate(
        model=AdapterLM(adapter), tasks=list(run.tasks), task_manager=manager, limit=run.limit,
        num_fewshot=run.num_fewshot, log_samples=True, bootstrap_iters=0,
        random_seed=run.seed, numpy_random_seed=run.seed, torch_random_seed=run.seed,
        fewshot_random_seed=run.seed)
    if output is None:
        raise RuntimeError("lm_eval.simple_evaluate returned no results")
    return {task: _task_outcomes(task, output) for task in run.tasks if task in output["results"]}


def _task_outcomes(task: str, output: dict[str, Any]) -> TaskOutcomes:
    samples = sorted(output["samples"].get(task, []), key=lambda s: s["doc_id"])
    docs = [s["doc"] if isinstance(s.get("doc"), dict) else {} for s in samples]
    doc_ids = [str(doc.get("id", s["doc_id"])) for doc, s in zip(docs, samples)]
    groups = {f: [str(doc[f]) for doc in docs] for f in GROUP_FIELDS if docs and all(f in doc for doc in docs)}
    values = {m: [float(s[m]) for s in samples] for m in PER_SAMPLE_METRICS if samples and m in samples[0]}
    aggregate = {}
    for key, value in output["results"][task].items():
        metric, _, flt = key.partition(",")
        if flt == LM_EVAL_FILTER and isinstance(value, (int, float)) and not math.isnan(value):
            aggregate[metric] = float(value)
    return TaskOutcomes(task=task, doc_ids=doc_ids, values=values, aggregate=aggregate, groups=groups)
