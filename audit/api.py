"""The Python API: the same operations as the CLI, returning typed objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.config.schema import load_config
from audit.run.registry import load_renderers
from audit.results import AuditRun
from audit.plan.budget import attach_plan, plan_for_run
from audit.run.runner import AdapterLoader, Runner
from audit.config.schema import ModelSpec
from audit.run.outdir import OutputFolder, with_current_run
from audit.run.preflight import preflight
from audit.store import RunStore, default_store

RESULTS_FILENAME = "results.json"


def render(run: AuditRun, out_dir: Path, renderers: list[str] | None = None) -> dict[str, Path]:
    """Write every registered (or named) renderer's file for `run` into `out_dir`."""
    out_dir = Path(out_dir)
    written = {r.name: r.render(run, out_dir) for r in load_renderers(renderers)}
    return {name: path for name, path in written.items() if path is not None}   # a skipped PDF is None


def no_model_checks(spec: ModelSpec, prepared_dir: Path) -> list[str]:
    """A caller-supplied adapter loader decides what a model path means: its folders are not checked."""
    return []


def no_labels(spec: ModelSpec, prepared_dir: Path) -> tuple[None, None]:
    return None, None


def run_audit(config_path: str | Path, out_dir: str | Path, *, fresh: bool = False, show_progress: bool = True,
              store_path: str | Path | None = None, baseline: str | None = None, force: bool = False,
              command: str | None = None, adapter_loader: AdapterLoader | None = None,
              renderers: list[str] | None = None, plan: Any = None) -> tuple[AuditRun, dict[str, Path]]:
    """Run an audit config; write results.json, report.html, junit.xml, summary.md and the compliance
    report; record the run in the history; with `baseline` (a tag, id or results path) also compare
    with it and gate on supported regressions.

    The store and the baseline are opened before the audit starts, so an unreachable store or an
    unknown tag fails at once (exit code 2) with nothing written. A config with a `budget:` is
    planned first unless `plan` is given (the CLI plans it already): over budget, BudgetExceeded
    (exit 2) is raised before any model loads."""
    import audit.run.runner as runner_module
    from audit.regression.variant_report import attach_variants
    from audit.run.provenance import code_fingerprint
    from audit.regression.baseline import attach_comparison, check_baseline_protocol, headline_keys

    real_models = adapter_loader is None and runner_module.default_adapter_loader is runner_module.REAL_ADAPTER_LOADER
    adapter_loader = adapter_loader or runner_module.default_adapter_loader
    loaded = load_config(config_path)
    if plan is None and real_models and loaded.config.budget is not None:
        plan = plan_for_run(Path(config_path))           # refuses a run over its budget (nothing loaded)
    out_dir = Path(out_dir)
    spec = loaded.config.regression
    where = default_store(store_path, loaded.config.store, loaded.directory)
    checkers = {} if real_models else {"model_checker": no_model_checks, "label_reader": no_labels}
    preflight(loaded, out_dir, where, suite_loader=runner_module.load_suite, **checkers)        # every input, before any model loads (exit 2)
    with RunStore(where) as store:
        base_run = None
        if baseline is not None:                           # an unknown tag fails with nothing written
            base_run, _ = store.resolve(baseline)
            check_baseline_protocol(base_run, loaded, force=force)
        with OutputFolder(out_dir):                        # one run per folder; old outputs moved aside
            run = Runner(loaded, out_dir, fresh=fresh, show_progress=show_progress,
                         adapter_loader=adapter_loader).run()
            run.provenance.command = command
            if plan is not None:           # audit.plan: the estimate next to the measured time per suite
                attach_plan(run, plan)
            run.provenance.code_sha256 = code_fingerprint()
            run.provenance.store = store.where
            attach_variants(run, loaded, adapter_loader)
            if base_run is not None:
                attach_comparison(run, base_run, spec, ref=baseline or base_run.run_id, force=force)
            keys = headline_keys(run)
            run.history = with_current_run(store.snapshot(run, keys, spec.history), run, keys)
            files = render(run, out_dir, renderers)          # render first ...
            store.record(run, out_dir / RESULTS_FILENAME)    # ... record last: a stored run has its reports
    return run, files
