"""One benchmark table: every hot path against the tool a user would otherwise run, on this machine.

`make bench` (= `python -m bench.table`) runs each bench small enough for minutes on 2 cores, prints
one table (our time, theirs, theirs/ours, ours/forward floor, agreement of the outputs) and writes it
with the command and the machine to bench/results/table-<device>.md and .json. `--device cuda` uses
randomly initialised models of real sizes (bench.random_models), so no weights are needed; on a GPU
it also reports the achieved fraction of the bf16 matrix-multiply peak.
    python -m bench.table [--device cpu|cuda] [--random-models real|small] [--prepared DIR] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import import_module
from pathlib import Path
from typing import Any, Callable

import torch

from audit.models.adapters.gpu import cpu_isa, gpu_facts
from bench.generate import ROW_ADAPTER as GEN_OURS, ROW_FLOOR as GEN_FLOOR, ROW_LOOP as GEN_LOOP

RESULTS = Path(__file__).resolve().parent / "results"
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0}
Row = dict[str, Any]


def _run(module: str, args: list[str]) -> dict[str, Any]:
    """Run `python -m bench.<module> ARGS --json tmp` in this process; its JSON result."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        import_module(f"bench.{module}").main([*args, "--json", str(out)])
        return json.loads(out.read_text())


def _row(path: str, theirs_name: str, theirs: float, ours: float, floor: float | None, agreement: str,
         note: str = "") -> Row:
    return {"hot path": path, "compared with": theirs_name, "theirs_s": theirs, "ours_s": ours,
            "theirs_over_ours": theirs / ours if ours else None,
            "ours_over_floor": ours / floor if floor else None, "agreement": agreement, "note": note}


def fill_mask(models: dict[str, Path]) -> list[Row]:
    r = _run("fill_mask", ["--n", "60", *_model(models, "bert-base-mlm")])
    s = r["seconds"]
    return [_row("fill-mask probes", 'pipeline("fill-mask") per probe', s["pipeline per probe"], s["ours"],
                 s["forward floor"], f"identical top-{r['top_k']} {r['identical_top_k']:.0%}, "
                                     f"max|dp| {r['max_abs_prob_diff']:.1e}", f"{r['n']} probes")]


def crows_pairs(models: dict[str, Path]) -> list[Row]:
    r = _run("crows_pairs", ["--limit", "6", "--pairs", "40", *_model(models, "bert-base-mlm")])
    per = r["seconds_per_pair"]
    ours_key = next(k for k in per if k.startswith("ours"))
    loop_key = next(k for k in per if k.startswith("reference"))
    floor_key = next(k for k in per if k.startswith("forward"))
    return [_row("CrowS-Pairs", "reference one-mask-per-forward script", per[loop_key], per[ours_key],
                 per[floor_key], f"max|dscore| {r['max_abs_score_diff_ours_vs_loop']:.1e}",
                 f"seconds per pair; {r['pairs']} pairs (reference on {r['loop_pairs']})")]


def explain(models: dict[str, Path]) -> list[Row]:
    r = _run("explain", ["--n", "2", "--shap-evals", "200", "--lime-samples", "300",
                         *_model(models, "bert-base-classifier")])
    rows = []
    for key, path, theirs in (("shap", "SHAP", "shap.Explainer(pipeline)"),
                              ("lime", "LIME", "LimeTextExplainer default classifier_fn")):
        s = r[key]["seconds"]
        rows.append(_row(path, theirs, s["tutorial"], s["ours"], s["floor"],
                         f"Pearson r {r[key]['agreement_pearson_mean']:.2f}", f"{r['n']} sentences"))
    return rows


def attack(models: dict[str, Path]) -> list[Row]:
    r = _run("attack", ["--n", "3", "--repeats", "1", *_model(models, "bert-base-classifier")])
    s = r["seconds"]
    loop = next(v for k, v in s.items() if k.startswith("one"))
    ours = next(v for k, v in s.items() if k.startswith("ours"))
    floor = next(v for k, v in s.items() if k.startswith("forward") or k.startswith("floor"))
    return [_row("attacks (word + char)", "same search one candidate per call (TextAttack: see note)", loop, ours,
                 floor, f"identical outcomes {r['identical_outcomes']}/{r['outcomes']}",
                 "TextAttack not measured: textattack 0.3.11 installs from PyPI, but imports flair, which "
                 "requires transformers<5 and fails to import under this project's transformers 5.23 (checked "
                 "2026-12-02); its batch-size-1 model calls are what the loop reproduces")]


def dp(models: dict[str, Path]) -> list[Row]:
    args = ["--steps", "3", "--warmup", "1", "--batch", "16", "--length", "32"]
    r = _run("dp_overhead", args + _model(models, "bert-base-classifier"))
    s = r["seconds_per_step"]
    hooks = next(v for k, v in s.items() if "hook" in k)
    ghost = next(v for k, v in s.items() if "ghost" in k)
    plain = next(v for k, v in s.items() if "non" in k)
    return [_row("DP training step", "Opacus defaults (per-sample hooks)", hooks, ghost, plain,
                 "same DP-SGD guarantee (same noise, clipping)",
                 "ours: ghost clipping (the trainer's auto mode); floor: a non-private step; seconds per step")]


def lm_eval_task(models: dict[str, Path]) -> list[Row]:
    r = _run("lm_eval_task", ["--limit", "20", *_model(models, "llama-135m")])
    s = r["seconds"]
    return [_row("lm-eval task", "lm_eval HF backend --batch_size auto", s["lm_eval hf --batch_size auto"],
                 s["ours"], s["forward floor"], f"same per-doc acc {r['same_per_document_acc']:.0%}, "
                                                f"|dacc| {r['abs_acc_diff']:.3f}",
                 f"{r['task']}, {r['documents']} docs, {r['requests']} requests")]


def generation(models: dict[str, Path]) -> list[Row]:
    r = _run("generate", ["--n", "16", "--max-new-tokens", "12", "--repeats", "2", *_model(models, "llama-135m")])
    s = r["seconds"]
    return [_row("generation", 'pipeline("text-generation") per prompt', s[GEN_LOOP], s[GEN_OURS], s[GEN_FLOOR],
                 f"greedy texts equal {r['greedy_texts_equal_to_pipeline']}",
                 f"{r['n']} prompts, {r['max_new_tokens']} new tokens; ours puts the model's BOS before a plain "
                 "prompt (as its scoring does), the pipeline does not, so texts may differ")]


BENCHES: tuple[Callable[[dict[str, Path]], list[Row]], ...] = (fill_mask, crows_pairs, explain, attack, dp,
                                                               lm_eval_task, generation)


def rows_or_failure(bench: Callable[[dict[str, Path]], list[Row]], models: dict[str, Path]) -> list[Row]:
    """A bench that fails gives a row saying why (the table is still written); a bench's argparse
    error (SystemExit) included."""
    try:
        return [{**row, "bench": bench.__name__} for row in bench(models)]
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - one broken bench must not lose the others' rows
        return [{"hot path": bench.__name__, "compared with": "", "theirs_s": None, "ours_s": None,
                 "theirs_over_ours": None, "ours_over_floor": None, "agreement": "",
                 "note": f"failed: {type(exc).__name__}: {str(exc)[:200]}", "bench": bench.__name__}]


def merged(old: dict[str, Any], new: dict[str, Any], benches: list[str]) -> dict[str, Any]:
    """`old` with the rows of `benches` replaced by `new`'s (in place; a row of an older table without
    a bench name matches by its hot path), and `new`'s command, date and machine kept as an update."""
    fresh = {b: [r for r in new["rows"] if r.get("bench") == b] for b in benches}
    paths = {r["hot path"]: r.get("bench") for r in new["rows"]}
    rows: list[Row] = []
    for row in old["rows"]:
        bench = row.get("bench") or paths.get(row["hot path"])
        if bench in fresh:
            rows += fresh.pop(bench)          # the first old row of a bench takes all its new rows
        elif bench not in benches:
            rows.append(row)
    rows += [r for left in fresh.values() for r in left]
    update = {k: new[k] for k in ("command", "date", "machine", "seconds")} | {"benches": benches}
    return {**old, "rows": rows, "updates": [*old.get("updates", []), update]}


def _model(models: dict[str, Path], name: str) -> list[str]:
    return ["--model", str(models[name])] if name in models else []


def matmul_peak_fraction(device: str) -> dict[str, Any] | None:
    """Achieved bf16 TFLOP/s of a large matmul, and its fraction of the GPU's nominal dense peak."""
    facts = gpu_facts(device)
    if not facts:
        return None
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ a
    torch.cuda.synchronize()
    started, reps = time.perf_counter(), 20
    for _ in range(reps):
        a @ a
    torch.cuda.synchronize()
    tflops = 2 * 8192**3 * reps / (time.perf_counter() - started) / 1e12
    peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in facts["gpu"]), None)
    return {**facts, "achieved_tflops": tflops, "peak_tflops": peak, "fraction": tflops / peak if peak else None}


def machine(device: str) -> dict[str, Any]:
    return {"platform": platform.platform(), "cpu": platform.processor() or platform.machine(), "cpu_isa": cpu_isa(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "load_average_1m": os.getloadavg()[0], "device": device, **gpu_facts(device)}


def _fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [f"# Benchmark table ({result['device']})", "",
             f"- command: `{result['command']}`", f"- date: {result['date']} ({result['seconds']:.0f} s)",
             f"- machine: {m['cpu']} ({m['cpu_isa']}), {m['cpu_count']} cores, torch {m['torch']} with "
             f"{m['torch_threads']} threads, load average {m['load_average_1m']:.1f} at the start"
             + (f"; GPU {m['gpu']} (sm {m['compute_capability']})" if m.get("gpu") else "; no GPU"),
             f"- models: {result['models']}",
             *[f"- updated: {u['date']} ({u['seconds']:.0f} s), rows of {', '.join(u['benches'])} re-run by "
               f"`{u['command']}`, load average {u['machine']['load_average_1m']:.1f} at the start"
               for u in result.get("updates", [])], "",
             "| hot path | compared with | theirs s | ours s | theirs / ours | ours / floor | agreement | note |",
             "|---|---|---:|---:|---:|---:|---|---|"]
    for r in result["rows"]:
        cell = {k: str(v).replace("|", "\\|") for k, v in r.items()}       # a '|' in a cell would split it
        lines.append(f"| {cell['hot path']} | {cell['compared with']} | {_fmt(r['theirs_s'], '.3f')} | "
                     f"{_fmt(r['ours_s'], '.3f')} | {_fmt(r['theirs_over_ours'], '.2f')} | "
                     f"{_fmt(r['ours_over_floor'], '.2f')} | {cell['agreement']} | {cell['note']} |")
    if result.get("matmul"):
        mm = result["matmul"]
        lines += ["", f"bf16 matmul: {mm['achieved_tflops']:.0f} TFLOP/s = {_fmt(mm['fraction'], '.0%')} of "
                      f"{mm['gpu']}'s nominal {mm['peak_tflops']} TFLOP/s"]
    lines += ["", "Ratios come from one run each on a shared machine (other processes load its cores): read "
                  "them as orders of magnitude. Floors run only the model body's forward passes over the "
                  "same batches (no output head where ours applies it only at the needed positions)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--random-models", choices=("real", "small"),
                        help="random models of real (or, for tests, small) sizes; the default with --device cuda")
    parser.add_argument("--prepared", type=Path,
                        help="`run_audit.py prepare` folder whose SmolLM2 tokenizer the random GPT-2 and Llama use "
                             "(default: the cache's)")
    parser.add_argument("--only", nargs="*", help="only these benches (e.g. fill_mask lm_eval_task)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--update", action="store_true",
                        help="re-run only the --only benches and replace their rows in the table already in --out")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but no CUDA device is available", file=sys.stderr)
        return 2
    if args.device == "cpu":
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")       # device auto in every bench = this CPU
    size = args.random_models or ("real" if args.device == "cuda" else None)
    if size:
        from bench.random_models import build, default_tokenizers

        tokenizers = default_tokenizers(args.prepared)
        if not tokenizers["bpe"].is_dir():
            print(f"error: random models need the prepared SmolLM2 tokenizer, missing at {tokenizers['bpe']} "
                  "(run `python run_audit.py prepare`, or pass --prepared DIR)", file=sys.stderr)
            return 2
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        models: dict[str, Path] = {}
        if size:
            models = build(Path(tmp), tokenizers, size)
        chosen = [b for b in BENCHES if not args.only or b.__name__ in args.only]
        rows = [row for bench in chosen for row in rows_or_failure(bench, models)]
    result = {"device": args.device, "command": shlex.join(["python", "-m", "bench.table", *(argv or sys.argv[1:])]),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(args.device),
              "models": f"random, {size} sizes ({', '.join(models)})" if size else "default (see each bench's doc)",
              "rows": rows, "matmul": matmul_peak_fraction("cuda:0") if args.device == "cuda" else None,
              "seconds": time.perf_counter() - started}
    stem = f"table-{args.device}" + (f"-random-{size}" if size else "")
    if args.update and (args.out / f"{stem}.json").is_file():
        old = json.loads((args.out / f"{stem}.json").read_text())
        result = merged(old, result, [b.__name__ for b in chosen])
    text = markdown(result)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.md").write_text(text)
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
