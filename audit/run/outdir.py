"""Output folders that never lie: one run at a time per --out, old outputs moved aside, no stray temp files.

A run takes OUT/.lock (its pid and host) for its whole duration; a second run into the same folder is
refused while that pid lives (a lock left by a killed run is taken over). Before a run starts, the
previous run's outputs (results.json, report.html, junit.xml, ...) move to OUT/.previous/, so a run
killed half-way never leaves an older "passed" in the folder for a CI step to read; temp files left by
a killed atomic write (`.NAME.*.tmp`) are removed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

from audit.errors import ConfigError
from audit.results import AuditRun, HistoryPoint, MetricHistory, Status

LOCK_FILE = ".lock"
PREVIOUS_DIR = ".previous"
OUTPUT_FILES = ("results.json", "results.schema.json", "report.html", "junit.xml", "summary.md", "compliance.html", "compliance.md",
                "compliance.pdf")
TEMP_GLOB = ".*.tmp"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutputFolder:
    """`with OutputFolder(out):` holds the lock, moves old outputs aside and removes stray temp files."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.lock = self.out_dir / LOCK_FILE
        self.moved: list[str] = []
        self.removed_temp = 0

    def __enter__(self) -> "OutputFolder":
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._acquire()
        self.removed_temp = remove_stray_temp_files(self.out_dir)
        self.moved = move_outputs_aside(self.out_dir)
        return self

    def __exit__(self, *_: object) -> None:
        self.lock.unlink(missing_ok=True)

    def _acquire(self) -> None:
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(2):
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = _read_lock(self.lock)
                same_host = holder.get("host") == me["host"]
                if same_host and isinstance(holder.get("pid"), int) and holder["pid"] != me["pid"] \
                        and _alive(holder["pid"]):
                    raise ConfigError(f"--out {self.out_dir}: another run (pid {holder['pid']}) is writing into this "
                                      f"folder; wait for it to finish, or use another --out") from None
                if not same_host and holder:
                    raise ConfigError(f"--out {self.out_dir}: a run on host {holder.get('host')} (pid "
                                      f"{holder.get('pid')}) holds {self.lock}; delete the file if that run is gone")
                self.lock.unlink(missing_ok=True)    # a lock left by a killed run of this host
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump(me, handle)
            return
        raise ConfigError(f"--out {self.out_dir}: cannot take the lock {self.lock}")


def _read_lock(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def remove_stray_temp_files(folder: Path) -> int:
    """Delete `.NAME.*.tmp` files a killed atomic write left behind (here and in .state/)."""
    count = 0
    for base in (folder, folder / ".state", folder / ".state" / "jobs"):
        if base.is_dir():
            for path in base.glob(TEMP_GLOB):
                path.unlink(missing_ok=True)
                count += 1
    return count


def move_outputs_aside(folder: Path) -> list[str]:
    """Move the previous run's outputs into OUT/.previous/ (replacing an older copy there)."""
    present = [name for name in OUTPUT_FILES if (folder / name).exists()]
    if not present:
        return []
    previous = folder / PREVIOUS_DIR
    shutil.rmtree(previous, ignore_errors=True)
    previous.mkdir()
    for name in present:
        os.replace(folder / name, previous / name)
    return present


def with_current_run(history: list[MetricHistory], run: AuditRun,
                     keys: list[tuple[str, str, str]]) -> list[MetricHistory]:
    """The stored history of `keys` plus this run's own points (a run is recorded in the store only
    after its reports are written, so the snapshot taken before does not hold it yet)."""
    if run.status == Status.ERROR:
        return history
    by_key = {(h.suite, h.model, h.metric): h for h in history}
    out = []
    for suite, model, name in keys:
        result = next((r for r in run.suites if r.suite == suite and r.model == model), None)
        metric = result.metric(name) if result is not None else None
        series = by_key.get((suite, model, name))
        if metric is None:
            if series is not None:
                out.append(series)
            continue
        if series is None:
            series = MetricHistory(suite=suite, model=model, metric=name, unit=metric.unit,
                                   higher_is_better=metric.higher_is_better, ideal=metric.ideal)
        if not any(p.run_id == run.run_id for p in series.points):
            series.points.append(HistoryPoint(run_id=run.run_id, started_at=run.provenance.started_at or "",
                                              value=metric.value, ci_low=metric.ci_low, ci_high=metric.ci_high,
                                              n=metric.n, status=run.status.value))
        out.append(series)
    return out
