"""CLI subcommands over the run history: `compare` and `runs` (list, show, tag, untag, delete, history)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

EXIT_ERROR = 2
STORE_HELP = ("run history: a SQLite file or a SQLAlchemy URL such as postgresql+psycopg://user@host/db "
              "(default: $RAI_AUDIT_STORE, else runs/history.sqlite)")


def _store_option(parser: argparse.ArgumentParser, *, child: bool = False) -> None:
    parser.add_argument("--store", help=STORE_HELP, default=argparse.SUPPRESS if child else None)


def add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="paired comparison of two runs (regression check)",
        description="Compare CANDIDATE with BASELINE on the examples both scored: McNemar for 0/1 outcomes, the "
                    "paired bootstrap otherwise (of the distance from the ideal for metrics with one), p-values "
                    "adjusted across every compared metric. Exit 1 when a metric is worse than its tolerance and "
                    "significant after the correction, 2 when the runs cannot be compared (different datasets or "
                    "config without --force, a candidate that errored, nothing in common), else 0. The "
                    "`regression:` block of the candidate's config sets tolerances; the options override it.")
    p.add_argument("baseline", help="results.json, run folder, run id, id prefix or tag")
    p.add_argument("candidate", help="results.json, run folder, run id, id prefix or tag")
    _store_option(p)
    p.add_argument("--force", action="store_true", help="compare even if datasets or configs differ")
    p.add_argument("--alpha", type=float, help="significance level after correction (default 0.05)")
    p.add_argument("--correction", choices=("holm", "bh", "none"), help="multiple-comparison correction")
    p.add_argument("--tolerance", type=float, help="default tolerance for every metric (metric units)")
    p.add_argument("--json", type=Path, help="write the comparison as JSON")
    p.add_argument("--junit", type=Path, help="write JUnit XML (one test case per compared metric)")
    p.add_argument("--markdown", type=Path, help="write a Markdown summary (CI logs, pull-request comments)")


def add_runs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="the run history: list, show, tag, delete, history of a metric",
                       description="List stored runs (newest first, filtered), or act on one.")
    _store_option(p)
    p.add_argument("--model", help="only runs that audited this model")
    p.add_argument("--config", help="only runs whose config path contains this, or whose config sha256 starts so")
    p.add_argument("--tag", nargs="+", metavar="TAG", help="only runs with this tag (or, legacy: RUN_ID TAG to tag)")
    p.add_argument("--status", choices=("passed", "failed", "error"))
    p.add_argument("--limit", type=int, default=20)
    actions = p.add_subparsers(dest="runs_command", metavar="ACTION")
    show = actions.add_parser("show", help="one run: provenance, headline metrics, findings")
    show.add_argument("run", help="run id, id prefix or tag")
    _store_option(show, child=True)
    tag = actions.add_parser("tag", help="point TAG (e.g. baseline) at RUN")
    tag.add_argument("run")
    tag.add_argument("tag")
    _store_option(tag, child=True)
    untag = actions.add_parser("untag", help="remove a tag")
    untag.add_argument("tag")
    _store_option(untag, child=True)
    delete = actions.add_parser("delete", help="remove a run from the history (its folder stays)")
    delete.add_argument("run")
    _store_option(delete, child=True)
    history = actions.add_parser("history", help="a metric over the stored runs (one query)")
    history.add_argument("metric", help="metric name, e.g. accuracy.accuracy")
    history.add_argument("--model", dest="history_model", help="model name")
    history.add_argument("--suite")
    history.add_argument("--group", help="a breakdown, as key=value;key2=value2")
    history.add_argument("--condition", default="original")
    history.add_argument("--limit", dest="history_limit", type=int, help="the last N runs")
    history.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    _store_option(history, child=True)


def _open(args: argparse.Namespace):
    from audit.store import RunStore, default_store

    return RunStore(default_store(getattr(args, "store", None)))


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}g}"


def _spec(args: argparse.Namespace, candidate_config: dict):
    """The candidate's `regression:` block (it travels with the run), overridden by the options."""
    from pydantic import ValidationError

    from audit.config.sections import RegressionSpec
    from audit.errors import ConfigError

    try:
        spec = RegressionSpec.model_validate(candidate_config.get("regression") or {})
    except ValidationError as exc:
        raise ConfigError(f"the candidate's stored config has an invalid regression block: {exc}") from None
    updates = {k: v for k, v in (("alpha", args.alpha), ("correction", args.correction),
                                 ("tolerance", args.tolerance)) if v is not None}
    try:
        return RegressionSpec.model_validate({**spec.model_dump(), **updates})
    except ValidationError as exc:
        raise ConfigError(f"compare: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}") from None


def print_comparison(comparison) -> None:
    from audit.results.comparison import flagged_first
    from audit.results import group_label

    print(f"baseline {comparison.baseline_run_id}  candidate {comparison.candidate_run_id}  "
          f"{comparison.correction} correction, alpha {comparison.alpha:g}")
    for item in comparison.overridden:
        print(f"  forced: {item}")
    header = f"{'':2}{'suite/model metric [group]':<58} {'baseline':>9} {'cand.':>9} {'change':>9} " \
             f"{'CI':>21} {'p adj':>8} {'n':>6}  test"
    print(header)
    for c in flagged_first(comparison.metrics):
        label = f"{c.suite}/{c.model} {c.metric}" + (f" [{group_label(c.group)}]" if c.group else "")
        mark = "✗ " if c.regression else ("↑ " if c.improvement else "  ")
        ci = f"[{_num(c.ci_low)}, {_num(c.ci_high)}]"
        print(f"{mark}{label[:58]:<58} {_num(c.baseline):>9} {_num(c.candidate):>9} {_num(c.difference):>9} "
              f"{ci:>21} {_num(c.p_adjusted, 3):>8} {c.n_paired:>6}  {c.test}"
              + (f" ({c.note})" if c.note else ""))
    for c in comparison.regressions:
        group = f"[{group_label(c.group)}]" if c.group else ""
        print(f"REGRESSION {c.suite}/{c.model} {c.metric}{group}: {c.difference:+.4f} "
              f"(adjusted p={c.p_adjusted:.3g}, n={c.n_paired})")


def _resolve_pair(args: argparse.Namespace):
    """Both runs from their folders or files; the history is opened only for a run id or a tag."""
    from audit.results.load import load_run

    refs = (args.baseline, args.candidate)
    local = [Path(ref) / "results.json" if Path(ref).is_dir() else Path(ref) for ref in refs]
    if all(path.is_file() for path in local):
        return tuple(load_run(path) for path in local)
    with _open(args) as store:
        return tuple(store.resolve(ref)[0] for ref in refs)


def cmd_compare(args: argparse.Namespace) -> int:
    from audit.regression.compare import compare_runs
    from audit.io import atomic_write_text
    from audit.results import Status
    from reports.junit import comparison_junit_xml
    from reports.markdown import comparison_markdown

    baseline, candidate = _resolve_pair(args)
    comparison = compare_runs(baseline, candidate, _spec(args, candidate.provenance.config), force=args.force,
                              baseline_ref=args.baseline, seed=candidate.provenance.seed)
    if args.json:
        atomic_write_text(args.json, comparison.model_dump_json(indent=2) + "\n")
    if args.junit:
        atomic_write_text(args.junit, comparison_junit_xml(comparison))
    if args.markdown:
        atomic_write_text(args.markdown, comparison_markdown(comparison))
    if comparison.status == Status.ERROR:
        print(f"error: {comparison.message}", file=sys.stderr)
        return EXIT_ERROR
    print_comparison(comparison)
    return 1 if comparison.regressions else 0


def _list(store, args: argparse.Namespace) -> int:
    rows = store.runs(model=args.model, config=args.config, tag=args.tag[0] if args.tag else None,
                      status=args.status, limit=args.limit)
    if not rows:
        print(f"no runs in {store.where}" + (" match" if any((args.model, args.config, args.tag, args.status)) else ""))
        return 0
    for r in rows:
        tags = f" [{', '.join(r.tags)}]" if r.tags else ""
        config = Path(r.config_path).name if r.config_path else "—"
        print(f"{r.run_id}  {r.started_at:<25} {r.status:<7} {config:<22} {','.join(r.models):<36}{tags}")
    return 0


def _show(store, ref: str) -> int:
    from audit.results import Severity

    summary = store.summary(ref)
    run = store.load(summary.run_id)
    p = run.provenance
    tags = f"  tags: {', '.join(summary.tags)}" if summary.tags else ""
    print(f"run {run.run_id}  status {run.status.value}{tags}")
    for key, value in (("started", p.started_at), ("finished", p.finished_at), ("config", p.config_path),
                       ("config sha256", p.config_sha256), ("git", p.git_revision), ("seed", p.seed),
                       ("device", p.device), ("results", summary.results_path)):
        print(f"  {key:<14} {value if value not in (None, '') else '—'}")
    for name, model in p.models.items():
        print(f"  model {name}: {model.kind} {model.path} sha256 {model.sha256[:16]}…")
    for name, data in p.datasets.items():
        print(f"  dataset {name}: sha256 {data.sha256[:16]}… rows {data.rows if data.rows is not None else '—'}")
    for s in run.suites:
        print(f"{s.suite}/{s.model}: {s.status.value}, {len(s.metrics)} metrics, {len(s.outcomes)} outcome vectors")
        for m in [m for m in s.metrics if m.group is None][:12]:
            ci = f" [{_num(m.ci_low)}, {_num(m.ci_high)}]" if m.ci_low is not None else ""
            print(f"    {m.name:<40} {_num(m.value):>9}{ci} n={m.n}")
        for f in s.findings:
            if f.severity != Severity.INFO:
                print(f"    [{f.severity.value}] {f.message}")
    for f in run.findings:
        if f.severity != Severity.INFO:
            print(f"  [{f.severity.value}] {f.message}")
    return 0


def _history(store, args: argparse.Namespace) -> int:
    rows = store.history(args.metric, model=args.history_model, suite=args.suite, group=args.group,
                         condition=args.condition, limit=args.history_limit)
    if not rows:
        print(f"no stored values of {args.metric}" + (f" for model {args.history_model}" if args.history_model else ""))
        return 0
    for r in rows:
        if args.json:
            print(json.dumps(r.__dict__, default=str))
            continue
        ci = f"[{_num(r.ci_low)}, {_num(r.ci_high)}]" if r.ci_low is not None else ""
        tags = f" [{', '.join(r.tags)}]" if r.tags else ""
        print(f"{r.started_at:<25} {r.run_id}  {r.suite}/{r.model:<20} {_num(r.value):>9} {ci:<22} n={r.n}"
              f" {r.status}{tags}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    with _open(args) as store:
        action = args.runs_command
        if action is None and args.tag and len(args.tag) == 2:     # legacy: runs --tag RUN_ID TAG
            run_id, _ = store.tag(*args.tag)
            print(f"tagged {run_id} as {args.tag[1]}")
            return 0
        if action is None:
            return _list(store, args)
        if action == "show":
            return _show(store, args.run)
        if action == "tag":
            run_id, before = store.tag(args.run, args.tag)
            moved = f" (moved from {before})" if before and before != run_id else ""
            print(f"tagged {run_id} as {args.tag}{moved}")
            return 0
        if action == "untag":
            print(f"removed tag {args.tag} from {store.untag(args.tag)}")
            return 0
        if action == "delete":
            print(f"deleted run {store.delete(args.run)} from {store.where}")
            return 0
        return _history(store, args)
