"""The lm-eval half of the accuracy suite: write shipped tasks, run them, turn samples into Metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audit.errors import ConfigError
from audit.results import UNIT_PROPORTION, Estimate, Finding, Metric, Outcomes, Severity, SuiteResult
from audit.stats import bootstrap_mean, is_binary, wilson_proportion
from audit.run.suite import Context
from suites.accuracy import views
from suites.accuracy.config import LmEvalConfig
from suites.accuracy.lm_eval_bridge import LmEvalRun, TaskOutcomes, run_tasks
from audit.data.tasks import SHIPPED_TASKS, TASKS_DIR, materialize_task

LM_EVAL_PREFIX = "lm_eval"
TASKS_FOLDER = "lm_eval_tasks"
# lm-eval's aggregate and our mean of its per-sample values must agree to this tolerance.
AGGREGATE_TOLERANCE = 1e-9


def lm_eval_metric_name(task: str, metric: str) -> str:
    return f"{LM_EVAL_PREFIX}.{task}.{metric}"


def per_document_estimate(values: list[float] | np.ndarray, seed: int) -> tuple[Estimate, str | None]:
    """(estimate, unit): a Wilson interval for 0/1 outcomes (acc, acc_norm), else a bootstrap mean."""
    if is_binary(values):
        return wilson_proportion(values), UNIT_PROPORTION
    return bootstrap_mean(values, seed=seed), None


def record_include_path(ctx: Context, folder: Path) -> None:
    """Hash every file under a user's include_path into provenance: it is trusted code (an lm-eval
    YAML can import Python with `!function`), so the run must say exactly what it executed."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        ctx.data.record(path)


def task_seed(ctx: Context, task: str) -> int:
    return ctx.sub_seed("accuracy", "lm_eval", task)


def prepare_tasks(ctx: Context, cfg: LmEvalConfig) -> list[Path]:
    """Write the requested shipped tasks into the run folder; return every folder lm-eval should index."""
    folders: list[Path] = []
    shipped = [SHIPPED_TASKS[t] for t in cfg.tasks if t in SHIPPED_TASKS]
    if shipped:
        out = ctx.artifacts_dir / TASKS_FOLDER
        for task in shipped:
            materialize_task(task, ctx.data, out, task_seed(ctx, task.name))
        folders.append(out.resolve())
    if cfg.include_path:
        include = ctx.data.resolve(cfg.include_path, what="accuracy.lm_eval.include_path")
        if not include.is_dir():
            raise ConfigError(f"accuracy.lm_eval.include_path: {include} is not a folder of task YAMLs")
        record_include_path(ctx, include)
        folders.append(include.resolve())
    return folders


def score_lm_eval(ctx: Context, cfg: LmEvalConfig, result: SuiteResult) -> None:
    """Run the tasks through the adapter; metrics 'lm_eval.<task>.<acc|acc_norm>' with n and a CI."""
    run = LmEvalRun(tasks=list(cfg.tasks), include_paths=prepare_tasks(ctx, cfg), limit=cfg.limit,
                    num_fewshot=cfg.num_fewshot, seed=ctx.sub_seed("accuracy", "lm_eval"))
    outcomes = run_tasks(ctx.adapter, run)
    missing = [t for t in cfg.tasks if t not in outcomes]
    if missing:
        result.findings.append(Finding(severity=Severity.WARN, message=f"lm-eval returned no results for {missing}"))
    accuracies = {}
    for task, task_outcomes in outcomes.items():
        for metric, values in task_outcomes.values.items():
            if not values:
                continue
            name = lm_eval_metric_name(task, metric)
            estimate, unit = per_document_estimate(values, ctx.sub_seed("accuracy", name))
            result.metrics.append(Metric.from_estimate(name, estimate, higher_is_better=True, unit=unit))
            result.outcomes.append(Outcomes(metric=name, example_ids=task_outcomes.doc_ids, values=values))
            _check_aggregate(task_outcomes, metric, estimate.value, result)
            if metric == "acc":
                accuracies[task] = estimate
                _breakdowns(ctx, task_outcomes, name, values, result)
    if accuracies:
        result.views.append(views.task_bars("lm-eval task accuracy", accuracies))
    result.details["lm_eval"] = {
        "tasks": {t: {"n": len(o.doc_ids), "aggregate": o.aggregate} for t, o in outcomes.items()},
        "limit": cfg.limit, "num_fewshot": cfg.num_fewshot, "seed": run.seed,
        # relative to results.json: an absolute --out path would make two runs of one config differ
        "task_folders_relative": [results_relative(p, ctx.artifacts_dir) for p in run.include_paths],
        # the seed each shipped task's documents were drawn and shuffled with (audit.data.tasks builders)
        "task_seeds": {t: task_seed(ctx, t) for t in cfg.tasks if t in SHIPPED_TASKS},
        "shipped_task_folder": str(TASKS_DIR),
        "recompute": {t: recompute_command(t, cfg, task_seed(ctx, t), run.seed) for t in cfg.tasks if t in SHIPPED_TASKS},
    }


def results_relative(path: Path, artifacts_dir: Path) -> str:
    """`path` relative to the run folder holding results.json (artifacts live in OUT/artifacts/JOB/)."""
    try:
        return path.resolve().relative_to(artifacts_dir.parent.parent.resolve()).as_posix()
    except ValueError:
        return str(path)


def recompute_command(task: str, cfg: LmEvalConfig, seed: int, run_seed: int) -> str:
    """lm-eval's own CLI on the shipped folder, same documents in the same order (its HF backend)."""
    limit = "" if cfg.limit is None else f" --limit {cfg.limit}"
    return (f"lm_eval run --model hf --model_args pretrained=MODEL_PATH,dtype=float32 --tasks {task} "
            f"--include_path {TASKS_DIR} --metadata '{{\"seed\": {seed}}}'{limit} --num_fewshot {cfg.num_fewshot} "
            f"--seed {run_seed} --log_samples --output_path OUT  "
            "# MODEL_PATH: provenance.models[model].path; PYTHONPATH: the folder holding audit/")


def _breakdowns(ctx: Context, outcomes: TaskOutcomes, name: str, values: list[float], result: SuiteResult) -> None:
    """Per-group accuracy (e.g. BBQ category) as metrics with group {field: value}, plus a bar chart."""
    per_doc = np.asarray(values, dtype=float)
    for field, labels in outcomes.groups.items():
        labels_arr = np.asarray(labels)
        estimates = {}
        for value in sorted(set(labels)):
            group = {field: value}
            estimates[value], unit = per_document_estimate(per_doc[labels_arr == value],
                                                           ctx.sub_seed("accuracy", name, field, value))
            result.metrics.append(Metric.from_estimate(name, estimates[value], group=group, higher_is_better=True,
                                                       unit=unit))
        result.views.append(views.task_bars(f"{outcomes.task}: accuracy by {field}", estimates))


def _check_aggregate(outcomes: TaskOutcomes, metric: str, value: float, result: SuiteResult) -> None:
    """Our mean of lm-eval's per-sample values must equal lm-eval's own aggregate (a plumbing check)."""
    reported = outcomes.aggregate.get(metric)
    if reported is not None and abs(reported - value) > AGGREGATE_TOLERANCE:
        result.findings.append(Finding(
            severity=Severity.WARN, metric=lm_eval_metric_name(outcomes.task, metric),
            message=f"lm-eval aggregate {reported:.6f} differs from the per-sample mean {value:.6f}"))
