"""The Python API: the same operations as the CLI, returning typed objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.config.schema import load_config
from audit.run.registry import load_renderers
from audit.results import AuditRun
from audit.plan.budget import attach_plan
from audit.run.runner import AdapterLoader, Runner
from audit.store import HISTORY_FILE, RunStore, default_store

RESULTS_FILENAME = "results.json"


def render(run: AuditRun, out_dir: Path, renderers: list[str] | None = None) -> dict[str, Path]:
    """Write every registered (or named) renderer's file for `run` into `out_dir`."""
    out_dir = Path(out_dir)
    written = {r.name: r.render(run, out_dir) for r in load_renderers(renderers)}
    return {name: path for name, path in written.items() if path is not None}   # a skipped PDF is None


def run_audit(config_path: str | Path, out_dir: str | Path, *, fresh: bool = False, show_progress: bool = True,
              store_path: str | Path | None = None, baseline: str | None = None, force: bool = False,
              command: str | None = None, adapter_loader: AdapterLoader | None = None,
              renderers: list[str] | None = None, plan: Any = None) -> tuple[AuditRun, dict[str, Path]]:
    """Run an audit config; write results.json, report.html, junit.xml, summary.md and the compliance
    report; record the run in the history; with `baseline` (a tag, id or results path) also compare
    with it and gate on supported regressions.

    The store and the baseline are opened before the audit starts, so an unreachable store or an
    unknown tag fails at once (exit code 2) with nothing written."""
    import audit.run.runner as runner_module
    from audit.regression.variant_report import attach_variants
    from audit.run.provenance import code_fingerprint
    from audit.regression.baseline import attach_comparison, check_baseline_protocol, headline_keys

    adapter_loader = adapter_loader or runner_module.default_adapter_loader
    loaded = load_config(config_path)
    out_dir = Path(out_dir)
    spec = loaded.config.regression
    where = default_store(store_path, loaded.config.store, loaded.directory,
                          fallback=out_dir.resolve().parent / HISTORY_FILE)
    with RunStore(where) as store:
        base_run = None
        if baseline is not None:
            base_run, _ = store.resolve(baseline)
            check_baseline_protocol(base_run, loaded, force=force)
        run = Runner(loaded, out_dir, fresh=fresh, show_progress=show_progress, adapter_loader=adapter_loader).run()
        run.provenance.command = command
        if plan is not None:               # audit.plan: the estimate next to the measured time per suite
            attach_plan(run, plan)
        run.provenance.code_sha256 = code_fingerprint()
        attach_variants(run, loaded, adapter_loader)
        if base_run is not None:
            attach_comparison(run, base_run, spec, ref=baseline or base_run.run_id, force=force)
        store.record(run, out_dir / RESULTS_FILENAME)
        run.history = store.snapshot(run, headline_keys(run), spec.history)
    files = render(run, out_dir, renderers)
    return run, files
