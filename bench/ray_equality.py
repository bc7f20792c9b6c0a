"""Ray vs local on one config: the same config and starting cache, run by both executors, must give
the same results.json apart from timings, ids and host fields (issue #19).

Runs `run_audit.py run CONFIG` twice in fresh processes: once with the local executor and once with
`executor: {kind: ray, address: local, ...}` (a local Ray cluster started by the run, sized by this
machine's CPUs: 2 here). Each run gets its own --out and its own cache folder: the prepared models
linked read-only, the rest (the result cache, calibrations, derived models) copied from the same
starting cache (`--start-cache`; default: an empty cache). The two results.json files are compared
with audit.results.equality (the comparison the Ray executor's test uses) and the differences are
written to a markdown report. The two config copies sit next to CONFIG (so its relative paths still
resolve) and are removed afterwards; their config hash is CONFIG's, since the hash leaves the
executor block out. The default config takes about 30 minutes per run on 2 CPU cores.

    python -m bench.ray_equality [CONFIG] [--start-cache DIR] [--work DIR] [--report FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from audit.config.executor import config_sha256, without_executor_block
from audit.config.schema import CACHE_ENV, default_cache_dir
from audit.results.equality import RUN_LOCATION_KEYS, VOLATILE, run_differences, run_view

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "examples" / "default.yaml"
DEFAULT_REPORT = Path(__file__).resolve().parent / "results" / "ray-equality.md"
RAY_BLOCK = "executor: {{kind: ray, address: local, num_cpus: 1, torch_threads: {threads}}}"
PREPARED = "prepared"
SHOWN_DIFFERENCES = 100
SHOWN_CONFIG_CHARS = 4000     # a config this small is copied into the report (a tiny check config)


def fresh_process_threads(env: dict[str, str] | None = None) -> int:
    """torch's thread count in a fresh interpreter with this environment: what the local run's
    process gets (this process may have changed its own with torch.set_num_threads)."""
    code = "import torch; print(torch.get_num_threads())"
    proc = subprocess.run([sys.executable, "-c", code], env=env or dict(os.environ), capture_output=True,
                          text=True, check=True)
    return int(proc.stdout.strip().splitlines()[-1])


def default_ray_block() -> str:
    """Actors at the local run's thread count: bf16 CPU reductions split by thread, so a 1-thread
    actor's bf16 numbers differ from a 2-thread local run's in the last bits (measured on the default
    config: 8,519 values, all on bf16 paths)."""
    return RAY_BLOCK.format(threads=fresh_process_threads())


def config_copies(config: Path, executor_block: str, tag: str) -> dict[str, Path]:
    """CONFIG without its executor block (local) and with `executor_block` (ray), next to CONFIG."""
    body = without_executor_block(config.read_bytes())          # both copies hash as CONFIG does
    body += b"" if body.endswith(b"\n") or not body else b"\n"
    copies = {"local": config.with_name(f".{config.stem}.{tag}-local.yaml"),
              "ray": config.with_name(f".{config.stem}.{tag}-ray.yaml")}
    copies["local"].write_bytes(body)
    copies["ray"].write_bytes(body + executor_block.strip().encode("utf-8") + b"\n")
    return copies


def starting_cache(cache: Path, start: Path | None, prepared: Path) -> Path:
    """A cache folder for one run: `prepared` linked read-only, everything else copied from `start`."""
    cache.mkdir(parents=True)
    if start is not None and start.is_dir():
        for item in start.iterdir():
            if item.name == PREPARED:
                continue
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, cache / item.name)
    if prepared.is_dir():
        (cache / PREPARED).symlink_to(prepared.resolve(), target_is_directory=True)
    return cache


def run_once(config: Path, out: Path, cache: Path) -> dict[str, Any]:
    """`run_audit.py run` in a fresh process; its exit code, wall and CPU seconds, and output tail."""
    env = {**os.environ, CACHE_ENV: str(cache), "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    command = [sys.executable, str(ROOT / "run_audit.py"), "run", str(config), "--out", str(out), "--no-progress"]
    before, started = os.times(), time.perf_counter()
    proc = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    after = os.times()
    return {"exit_code": proc.returncode, "wall_s": time.perf_counter() - started,
            "cpu_s": (after.children_user - before.children_user) + (after.children_system - before.children_system),
            "tail": (proc.stdout + proc.stderr)[-2000:], "results": out / "results.json"}


def leaves(value: Any) -> int:
    """How many scalar values a JSON value holds (what the comparison looked at)."""
    if isinstance(value, dict):
        return sum(leaves(v) for v in value.values())
    if isinstance(value, list):
        return sum(leaves(v) for v in value)
    return 1


def report(args: argparse.Namespace, runs: dict[str, dict[str, Any]], results: dict[str, dict[str, Any]],
           diffs: list[str] | None, started: str) -> str:
    lines = ["# Ray vs local executor: results.json equality", "",
             f"- command: `{shlex.join(['python', '-m', 'bench.ray_equality', *sys.argv[1:]])}`",
             f"- date: {started}",
             f"- config: `{args.config}` (config_sha256 {config_sha256(args.config.read_bytes())[:16]}…)",
             f"- ray executor block: `{args.executor}`",
             f"- starting cache: {args.start_cache or 'empty'} (each run its own copy; prepared models linked)",
             f"- machine: {platform.machine()}, {os.cpu_count()} CPUs (the local Ray cluster's size), "
             f"Python {platform.python_version()}", "",
             "| executor | exit code | wall s | CPU s (driver process) | suites |", "|---|---:|---:|---:|---|"]
    for name, run in runs.items():
        suites = results.get(name, {}).get("suites", [])
        statuses = ", ".join(f"{s.get('suite')}/{s.get('model')} {s.get('status')}" for s in suites) or "no results"
        lines.append(f"| {name} | {run['exit_code']} | {run['wall_s']:.0f} | {run['cpu_s']:.0f} | {statuses} |")
    lines += ["", f"Ignored: the keys {', '.join(sorted(VOLATILE))} at any depth (timings, ids, the executor's "
                  f"hosts and workers), the config's own executor block and the provenance's "
                  f"{', '.join(RUN_LOCATION_KEYS)} (each run has its own config copy, --out and store), "
                  "the folders of derived models (each run has its own cache; their sha256 is compared), "
                  "values of metrics in seconds and cells of time columns, and findings whose evidence is a "
                  "measured time (a time-budget warning fires or not with the machine's speed; one with a "
                  "verdict stays compared, its message apart); everything else, config_sha256 included, "
                  "must be equal.", ""]
    if diffs is None:
        lines.append("**Not compared**: a run wrote no results.json (see its output below).")
        for name, run in runs.items():
            lines += ["", f"{name} output (tail):", "", "```", run["tail"].strip(), "```"]
    else:
        ray_kind = (results["ray"].get("provenance", {}).get("executor") or {}).get("kind")
        compared = leaves(run_view(results["local"]))
        verdict = "**equal**" if not diffs else f"**{len(diffs)} difference(s)**"
        lines.append(f"Result: {verdict} over {compared} compared values (the ray run's provenance says "
                     f"executor kind `{ray_kind}`).")
        if diffs:
            lines += ["", *[f"- `{d}`" for d in diffs[:SHOWN_DIFFERENCES]]]
            if len(diffs) > SHOWN_DIFFERENCES:
                lines.append(f"- … {len(diffs) - SHOWN_DIFFERENCES} more")
    text = args.config.read_text(encoding="utf-8")
    if len(text) <= SHOWN_CONFIG_CHARS:
        lines += ["", "The config:", "", "```yaml", text.strip("\n"), "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, nargs="?", default=DEFAULT_CONFIG, help="audit YAML (default: %(default)s)")
    parser.add_argument("--start-cache", type=Path, help="cache folder both runs start from (copied; default: empty)")
    parser.add_argument("--prepared", type=Path, default=default_cache_dir() / PREPARED,
                        help="prepared models, linked into both caches (default: %(default)s)")
    parser.add_argument("--executor", default=None,
                        help="the executor block of the Ray run (default: a local cluster, actors at torch's "
                             "thread count here)")
    parser.add_argument("--work", type=Path, help="keep both runs' outputs and caches here (default: a temp folder)")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="markdown written here")
    args = parser.parse_args(argv)
    args.config = args.config.resolve()
    args.executor = args.executor or default_ray_block()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        copies = config_copies(args.config, args.executor, f"ray-equality-{os.getpid()}")
        runs: dict[str, dict[str, Any]] = {}
        try:
            for name, config in copies.items():
                cache = starting_cache(work / name / "cache", args.start_cache, args.prepared)
                runs[name] = run_once(config, work / name / "out", cache)
                print(f"{name}: exit {runs[name]['exit_code']} in {runs[name]['wall_s']:.0f} s", flush=True)
        finally:
            for config in copies.values():
                config.unlink(missing_ok=True)
        results = {n: json.loads(r["results"].read_text()) for n, r in runs.items() if r["results"].is_file()}
        diffs = run_differences(results["local"], results["ray"]) if len(results) == 2 else None
    text = report(args, runs, results, diffs, started)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text, encoding="utf-8")
    print(text)
    return 0 if diffs == [] else 1


if __name__ == "__main__":
    raise SystemExit(main())
