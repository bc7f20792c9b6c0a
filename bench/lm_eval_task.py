"""An lm-eval task: lm_eval's own HF backend at --batch_size auto vs the accuracy suite's adapter path.

Same causal LM, same task (the shipped bbq_disambig_mc built from the bundled BBQ data), same --limit,
one process:
(a) `lm_eval.simple_evaluate(model="hf", batch_size="auto")`, as a user runs lm-eval;
(b) ours: `suites.accuracy.lm_eval_bridge.run_tasks` (every request list in one adapter call,
    length-sorted token-budget batches, shared contexts scored once), result cache off;
(c) the floor: the model's forward passes over the (context + continuation) sequences of the task's
    requests in length-sorted batches of the adapter's token budget.
Agreement: the share of documents with the same per-document acc, and |acc_ours - acc_hf|.
This file is a benchmark, not audit code: it calls the model directly on purpose, for (c).
    python -m bench.lm_eval_task [--model DIR] [--limit 40] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from audit.config.schema import ModelSpec
from audit.data.resolver import DataResolver
from audit.data.tasks import SHIPPED_TASKS, materialize_task
from audit.models.adapters.batching import length_order, pad_batch
from audit.models.adapters.cache import ResultCache
from audit.models.resolve import load_adapter
from bench.common import add_run_options, emit, parse_run_options, timed
from suites.accuracy.lm_eval_bridge import LmEvalRun, run_tasks

TASK = "bbq_disambig_mc"
PROBE_LENGTH = 256   # HF backend max_length: its batch-size probe runs at this length (8192 would take CPU minutes)


def default_model_dir() -> Path:
    return Path.home() / ".cache" / "rai-audit" / "prepared" / "smollm2-135m"


def hf_backend(model_dir: Path, tasks_dir: Path, limit: int, device: str) -> tuple[list[float], float]:
    import lm_eval
    from lm_eval.tasks import TaskManager

    out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={model_dir},dtype=float32,max_length={PROBE_LENGTH}",
                                  tasks=[TASK], task_manager=TaskManager(include_path=[str(tasks_dir)]),
                                  limit=limit, batch_size="auto", device=device, log_samples=True,
                                  bootstrap_iters=0, random_seed=0, numpy_random_seed=0, torch_random_seed=0,
                                  fewshot_random_seed=0)
    samples = sorted(out["samples"][TASK], key=lambda s: s["doc_id"])
    return [float(s["acc"]) for s in samples], float(out["results"][TASK]["acc,none"])


def measure(model_dir: Path, limit: int, device: str = "auto") -> dict[str, Any]:
    adapter = load_adapter("bench", ModelSpec(path=str(model_dir), kind="causal_lm", dtype="float32", device=device),
                           prepared_dir=model_dir.parent, cache_dir=None)
    adapter.set_cache(ResultCache.off())
    with tempfile.TemporaryDirectory() as tmp:
        tasks_dir = Path(tmp) / "tasks"
        materialize_task(SHIPPED_TASKS[TASK], DataResolver(Path.cwd(), Path(tmp)), tasks_dir, seed=0)
        run = LmEvalRun(tasks=[TASK], include_paths=[tasks_dir], limit=limit, num_fewshot=0, seed=0)
        calls: list[tuple[str, str]] = []
        original = adapter.loglikelihood

        def recording(requests, **kw):
            calls.extend(requests)
            return original(requests, **kw)

        adapter.loglikelihood = recording          # type: ignore[method-assign]
        t_ours, ours = timed(lambda: run_tasks(adapter, run))
        adapter.loglikelihood = original           # type: ignore[method-assign]
        t_hf, (theirs, acc_hf) = timed(lambda: hf_backend(model_dir, tasks_dir, limit, adapter.device))
    seqs = [adapter.rt.encode_plain([c + x])[0][-adapter.max_length:] for c, x in calls]
    policy = adapter.rt.policy(full_vocab_logits=True)
    order, batches, start = length_order([len(s) for s in seqs]), [], 0
    while start < len(order):
        size = policy.size_for(len(seqs[order[start]]))
        ids, mask = pad_batch([seqs[i] for i in order[start:start + size]], adapter.pad_token_id)
        batches.append((ids.to(adapter.device), mask.to(adapter.device)))
        start += size

    def floor() -> None:
        with torch.inference_mode():
            for ids, mask in batches:
                adapter.model.base_model(input_ids=ids, attention_mask=mask)   # the body; no output head

    t_floor = timed(floor)[0]
    mine = ours[TASK].values["acc"]
    same = sum(1 for a, b in zip(mine, theirs) if a == b) / max(1, len(mine))
    acc_ours = sum(mine) / max(1, len(mine))
    return {"model": str(model_dir), "task": TASK, "limit": limit, "documents": len(mine), "requests": len(calls),
            "device": adapter.device, "torch_threads": torch.get_num_threads(), "load_average_1m": os.getloadavg()[0],
            "seconds": {"lm_eval hf --batch_size auto": t_hf, "ours": t_ours, "forward floor": t_floor},
            "ratio_theirs_over_ours": t_hf / t_ours, "ratio_ours_over_floor": t_ours / t_floor,
            "same_per_document_acc": same, "acc_ours": acc_ours, "acc_hf": acc_hf,
            "abs_acc_diff": abs(acc_ours - acc_hf)}


def format_table(result: dict[str, Any]) -> str:
    lines = [f"model {result['model']}  task {result['task']}  {result['documents']} documents, "
             f"{result['requests']} requests  device={result['device']}  threads={result['torch_threads']}  "
             f"load={result['load_average_1m']:.1f}", f"{'':<30}{'seconds':>10}"]
    lines += [f"{name:<30}{s:>10.2f}" for name, s in result["seconds"].items()]
    lines += [f"lm_eval hf / ours = {result['ratio_theirs_over_ours']:.2f}x",
              f"ours / floor      = {result['ratio_ours_over_floor']:.2f}x",
              f"same per-document acc: {result['same_per_document_acc']:.0%}; acc ours {result['acc_ours']:.3f}, "
              f"hf {result['acc_hf']:.3f}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="a local causal-LM folder (default: prepared smollm2-135m)")
    parser.add_argument("--limit", type=int, default=40, help="documents of the task")
    parser.add_argument("--device", default="auto")
    add_run_options(parser)
    args = parse_run_options(parser, argv)
    return emit(measure(args.model or default_model_dir(), args.limit, args.device), format_table, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
