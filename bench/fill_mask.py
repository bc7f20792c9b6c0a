"""Fill-mask probes: `pipeline("fill-mask")` called once per probe vs HFAdapter.mask_fill vs the forward floor.

Same masked LM, same probes (the bias suite's template sentences style: "The [MASK] worked as a nurse."
over real WinoBias-like occupations), one process:
(a) `transformers.pipeline("fill-mask", top_k=K)` called once per probe, as tutorials do;
(b) ours: `HFAdapter.mask_fill(all_probes, top_k=K)` with the result cache off;
(c) the floor: only the model body's forward passes (no output head) over the same length-sorted, padded batches.
Agreement: the share of probes whose top-K tokens are identical, and max |p_ours - p_pipeline|.
The default model is MiniLM's real encoder under a random MLM head (as bench.crows_pairs): right for
timing, the fills mean nothing. This file is a benchmark, not audit code: it calls the model directly.
    python -m bench.fill_mask [--model DIR] [--n 200] [--top-k 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from audit.config.schema import ModelSpec
from audit.models.adapters.batching import length_order, pad_batch
from audit.models.adapters.cache import ResultCache
from audit.models.resolve import load_adapter
from bench.common import add_run_options, emit, minilm_with_head, parse_run_options, timed

OCCUPATIONS = ("nurse", "engineer", "teacher", "doctor", "carpenter", "secretary", "lawyer", "cashier", "chef",
               "farmer", "librarian", "pilot", "dancer", "mechanic", "baker", "judge", "clerk", "guard", "tailor",
               "driver")
FRAMES = ("The {m} worked as a {o}.", "{m} was hired as a {o} last year.", "Everyone knew that the {o} was {m}.",
          "The {o} said that {m} would be late.", "After the meeting the {o} thanked {m} for the help.")


def probes(mask: str, n: int) -> list[str]:
    out = [f.format(m=mask, o=o) for o in OCCUPATIONS for f in FRAMES]
    return (out * (n // len(out) + 1))[:n] if n > len(out) else out[:n]


def measure(model_dir: Path, n: int, top_k: int, device: str = "auto") -> dict[str, Any]:
    from transformers import pipeline

    adapter = load_adapter("bench", ModelSpec(path=str(model_dir), kind="masked_lm", device=device),
                           prepared_dir=model_dir.parent, cache_dir=None)
    adapter.set_cache(ResultCache.off())
    texts = probes(adapter.mask_token, n)
    pipe = pipeline("fill-mask", model=adapter.model, tokenizer=adapter.tokenizer, device=adapter.device, top_k=top_k)
    adapter.mask_fill(texts[:4], top_k=top_k)      # warm-up
    t_pipe, theirs = timed(lambda: [pipe(t) for t in texts])
    t_ours, ours = timed(lambda: adapter.mask_fill(texts, top_k=top_k))
    seqs = adapter.tokenize(texts)
    policy = adapter.rt.policy(full_vocab_logits=True)
    order = length_order([len(s) for s in seqs])
    batches, start = [], 0
    while start < len(order):
        size = policy.size_for(len(seqs[order[start]]))
        ids, mask = pad_batch([seqs[i] for i in order[start:start + size]], adapter.pad_token_id)
        batches.append((ids.to(adapter.device), mask.to(adapter.device)))
        start += size

    def floor() -> None:
        with torch.inference_mode():
            for ids, mask in batches:
                adapter.model.base_model(input_ids=ids, attention_mask=mask)   # the body; no output head

    floor()
    t_floor = timed(floor)[0]
    same = sum(1 for a, b in zip(ours, theirs) if [f.token_id for f in a] == [int(x["token"]) for x in b])
    diff = max(abs(f.prob - float(x["score"])) for a, b in zip(ours, theirs) for f, x in zip(a, b))
    return {"model": str(model_dir), "n": len(texts), "top_k": top_k, "device": adapter.device,
            "torch_threads": torch.get_num_threads(), "load_average_1m": os.getloadavg()[0],
            "seconds": {"pipeline per probe": t_pipe, "ours": t_ours, "forward floor": t_floor},
            "ratio_theirs_over_ours": t_pipe / t_ours, "ratio_ours_over_floor": t_ours / t_floor,
            "identical_top_k": same / len(texts), "max_abs_prob_diff": diff}


def format_table(result: dict[str, Any]) -> str:
    lines = [f"model {result['model']}  n={result['n']} probes  top_k={result['top_k']}  device={result['device']}  "
             f"threads={result['torch_threads']}  load={result['load_average_1m']:.1f}",
             f"{'':<20}{'seconds':>10}"]
    lines += [f"{name:<20}{s:>10.2f}" for name, s in result["seconds"].items()]
    lines += [f"pipeline / ours = {result['ratio_theirs_over_ours']:.2f}x",
              f"ours / floor    = {result['ratio_ours_over_floor']:.2f}x",
              f"identical top-{result['top_k']}: {result['identical_top_k']:.0%}, "
              f"max |dp| = {result['max_abs_prob_diff']:.1e}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a local HF masked-LM folder (default: see module doc)")
    parser.add_argument("--n", type=int, default=200, help="number of probes")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--device", default="auto")
    add_run_options(parser)
    args = parse_run_options(parser, argv)
    with tempfile.TemporaryDirectory() as tmp:
        from transformers import BertForMaskedLM

        model = args.model or minilm_with_head(BertForMaskedLM, Path(tmp) / "minilm-random-mlm-head")
        result = measure(model, args.n, args.top_k, args.device)
    return emit(result, format_table, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
