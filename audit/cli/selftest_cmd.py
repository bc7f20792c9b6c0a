"""CLI `selftest`: what can this audit detect? Detection and null false-alarm rates of planted defects."""

from __future__ import annotations

import argparse
from pathlib import Path

YAML_SUFFIXES = (".yaml", ".yml")


def add_selftest(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "selftest", help="what can this audit detect? planted defects in simulated candidates of a run",
        description="From a run's stored per-example outcomes, plant a defect of --size (a share of the metric's "
                    "examples moved to its worst value: wrong answers, stereotyped answers, leaked members) in "
                    "simulated candidates and run the real comparison on each of --draws draws; report per "
                    "headline verdict the detection rate and the false-alarm rate of null draws (--noise only). "
                    "The table is printed and stored in the run's results.json (or --out). With --plant METRIC, "
                    "write one planted candidate run to --candidate-out instead, to check with `compare`.")
    p.add_argument("run", help="results.json, run folder, run id or tag, or an audit config (its latest stored run)")
    p.add_argument("--store", default=None, help="run history (for a run id, tag or config)")
    p.add_argument("--size", type=float, default=0.1, help="share of a metric's examples the defect moves (0.1)")
    p.add_argument("--noise", type=float, default=0.05, help="share of examples permuted in every draw (0.05)")
    p.add_argument("--draws", type=int, default=100, help="simulated candidates per verdict (K, default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--metric", action="append", help="selftest this metric (repeatable; default: the headlines)")
    p.add_argument("--out", type=Path, help="write the results.json with the selftest here (default: in place)")
    p.add_argument("--plant", metavar="METRIC", help="write a candidate run with a defect planted in METRIC")
    p.add_argument("--model", help="with --plant: the model whose METRIC gets the defect")
    p.add_argument("--candidate-out", type=Path, help="with --plant: folder for the candidate's results.json")


def _load(args: argparse.Namespace):
    """(run, the results.json it came from or None)."""
    from audit.errors import DataError
    from audit.store import RunStore, default_store
    from reports.json_report import load_run

    path = Path(args.run)
    if path.is_dir() or (path.is_file() and path.suffix == ".json"):
        file = path / "results.json" if path.is_dir() else path
        return load_run(file), file
    with RunStore(default_store(args.store)) as store:
        if path.is_file() and path.suffix in YAML_SUFFIXES:
            rows = store.runs(config=str(path.resolve()), limit=1)
            if not rows or not rows[0].results_path or not Path(rows[0].results_path).is_file():
                raise DataError(f"{path}: no stored run of this config with its results.json; run it first "
                                f"(run_audit.py {path} --out DIR) or pass the run folder")
            file = Path(rows[0].results_path)
            return load_run(file), file
        run, _ = store.resolve(args.run)
        return run, None


def print_selftest(report) -> None:
    print(f"selftest of run {report.run_id}: {report.draws} draws, defect size {report.size:g}, "
          f"null noise {report.noise:g}, alpha {report.alpha:g}")
    if report.family:
        print(f"family: {report.family}")
    print(f"{'suite/model metric':<52} {'n':>6} {'detected':>9} {'false al.':>9} {'MDE':>8}  can detect "
          f"(>= {report.target_power:.0%})")
    for r in report.rows:
        mde = f"{r.minimum_detectable_effect:.3g}" if r.minimum_detectable_effect is not None else "—"
        label = f"{r.suite}/{r.model} {r.metric}"
        print(f"{label[:52]:<52} {r.n:>6} {r.detection_rate:>9.0%} {r.false_alarm_rate:>9.0%} {mde:>8}  "
              f"{'yes' if r.detects else 'NO'}  ({r.planted})")
    print(f"any false alarm in a null draw: {report.family_false_alarm_rate:.0%}")


def cmd_selftest(args: argparse.Namespace) -> int:
    from audit.config.sections import RegressionSpec
    from audit.errors import ConfigError
    from audit.io import atomic_write_text
    from audit.regression.selftest import planted_run, selftest

    run, source = _load(args)
    if not 0 < args.size <= 1 or not 0 <= args.noise < 1 or args.draws < 1:
        raise ConfigError("selftest: --size must be in (0, 1], --noise in [0, 1) and --draws >= 1")
    spec = RegressionSpec.model_validate(run.provenance.config.get("regression") or {})
    if args.plant:
        if args.candidate_out is None:
            raise ConfigError("selftest --plant needs --candidate-out DIR")
        try:
            candidate = planted_run(run, args.plant, size=args.size, seed=args.seed, model=args.model)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        args.candidate_out.mkdir(parents=True, exist_ok=True)
        path = args.candidate_out / "results.json"
        atomic_write_text(path, candidate.model_dump_json(indent=2) + "\n")
        print(f"planted candidate ({args.plant}, size {args.size:g}): {path}")
        return 0
    report = selftest(run, spec, size=args.size, noise=args.noise, draws=args.draws, seed=args.seed,
                      metrics=args.metric)
    print_selftest(report)
    target = (args.out / "results.json") if args.out else source
    if target is None:
        raise ConfigError("selftest: the run came from the history; pass --out DIR to store the selftest")
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, run.model_copy(update={"selftest": report}).model_dump_json(indent=2) + "\n")
    print(f"selftest stored in {target}")
    return 0
