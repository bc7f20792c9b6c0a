"""The Python API: the same operations as the CLI, returning typed objects."""

from __future__ import annotations

from pathlib import Path

from audit.config import load_config
from audit.registry import load_renderers
from audit.results import AuditRun
from audit.runner import Runner
from audit.store import RunStore

HISTORY_FILE = "history.sqlite"


def render(run: AuditRun, out_dir: Path, renderers: list[str] | None = None) -> dict[str, Path]:
    """Write every registered (or named) renderer's file for `run` into `out_dir`."""
    out_dir = Path(out_dir)
    return {r.name: r.render(run, out_dir) for r in load_renderers(renderers)}


def run_audit(config_path: str | Path, out_dir: str | Path, *, fresh: bool = False,
              show_progress: bool = True, store_path: Path | None = None) -> tuple[AuditRun, dict[str, Path]]:
    """Run an audit config; write results.json, report.html and junit.xml; index it in the history."""
    loaded = load_config(config_path)
    out_dir = Path(out_dir)
    run = Runner(loaded, out_dir, fresh=fresh, show_progress=show_progress).run()
    files = render(run, out_dir)
    store = RunStore(store_path or out_dir.resolve().parent / HISTORY_FILE)
    store.record(run, files["json"])
    return run, files
