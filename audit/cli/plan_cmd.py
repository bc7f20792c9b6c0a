"""`run_audit.py plan CONFIG`: per-job requests, cache answers, tokens, passes, FLOPs, memory and time."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from audit.plan.estimate import JobPlan, RunPlan

HEADER = (f"{'job':<34} {'requests':>9} {'cached':>8} {'real tok':>10} {'padded':>10} {'fwd':>6} {'bwd':>5} "
          f"{'GFLOP':>9} {'peak MiB':>9} {'est s':>8}")


def add_plan(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="estimate a run's cost before anything loads",
                       description="Run every suite of CONFIG against simulated models (real tokenizers, "
                                   "batching and result cache; no weights) and print per job the requests, "
                                   "how many the cache answers, real/padded tokens, passes, FLOPs, peak memory "
                                   "and a time estimate calibrated on this machine. Exit 2 if the config's "
                                   "budget: is exceeded.")
    p.add_argument("config", type=Path, help="audit YAML file")
    p.add_argument("--json", type=Path, help="also write the plan as JSON here")
    p.add_argument("--no-calibrate", action="store_true", help="do not measure throughput (model time unknown)")


def row(job: JobPlan) -> str:
    return (f"{job.key:<34.34} {job.total_requests:>9} {job.total_hits:>8} {job.real_tokens:>10} "
            f"{job.padded_tokens:>10} {job.forward_passes:>6} {job.backward_passes:>5} {job.flops / 1e9:>9.1f} "
            f"{job.peak_memory_bytes / 2**20:>9.0f} {job.estimate_s:>8.1f}" + (f"  error: {job.error}" if job.error else ""))


def format_plan(plan: RunPlan) -> str:
    lines = [HEADER] + [row(j) for j in plan.jobs]
    waste = [1 - j.real_tokens / j.padded_tokens for j in plan.jobs if j.padded_tokens]
    lines.append(f"total: {plan.requests} requests, estimated {plan.estimate_s:.0f} s "
                 f"(padding waste up to {max(waste, default=0):.0%}; planned in {plan.seconds:.0f} s)")
    return "\n".join(lines)


def cmd_plan(args: argparse.Namespace) -> int:
    from audit.config.schema import load_config
    from audit.plan.budget import enforce
    from audit.plan.estimate import plan_config

    loaded = load_config(args.config)
    plan = plan_config(loaded, calibrate=not args.no_calibrate)
    print(format_plan(plan))
    if args.json:
        args.json.write_text(json.dumps({"jobs": [j.as_dict() for j in plan.jobs], "estimate_s": plan.estimate_s,
                                         "calibrations": plan.calibrations}, indent=1))
    enforce(plan, loaded.config.budget, str(args.config))
    return 0
