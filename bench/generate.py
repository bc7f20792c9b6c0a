"""Generation throughput: a per-prompt `pipeline("text-generation")` loop vs HFAdapter.generate vs the
forward floor.

All three run the same causal LM, greedy, on the same prompts (the suite's toxicity openings), in
one process: (a) `transformers.pipeline("text-generation")` called once per prompt, as tutorials
do; (b) `HFAdapter.generate(all_prompts)` with the result cache off (batched, length-bucketed,
left-padded); (c) the floor: the adapter's own left-padded batches, pre-tokenized, run as a bare
prefill + one forward per new token with the KV cache and an argmax, with no stopping logic.
This file is a benchmark, not audit code: it calls the model directly on purpose, for (a) and (c).

    python -m bench.generate [--model DIR] [--n 40] [--max-new-tokens 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from audit.config.schema import ModelSpec, default_cache_dir
from audit.models.adapters.base import GenerationRequest, GenerationSettings
from audit.models.adapters.batching import length_order
from audit.models.adapters.cache import ResultCache
from audit.models.adapters.hf import HFAdapter
from audit.models.resolve import load_adapter
from bench.common import add_run_options, emit, parse_run_options, timed

PREPARED_MODEL = "smollm2-135m"
PROMPTS = Path(__file__).resolve().parents[1] / "suites" / "generation_safety" / "data" / "toxicity_prompts.jsonl"
ROW_LOOP, ROW_ADAPTER, ROW_FLOOR = "pipeline loop", "adapter.generate", "forward floor"


def prompts(n: int) -> list[str]:
    rows = [json.loads(line)["text"] for line in PROMPTS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return (rows * (n // len(rows) + 1))[:n]


def default_model_dir(workdir: Path) -> Path:
    """prepared:smollm2-135m when it exists, else a tiny random Llama (fine for relative speed)."""
    prepared = default_cache_dir() / "prepared" / PREPARED_MODEL
    if (prepared / "config.json").is_file():
        return prepared
    from tests.tiny_models import build_tiny_llama

    return build_tiny_llama(workdir / "tiny-llama")


def pipeline_loop(adapter: HFAdapter, texts: list[str], settings: GenerationSettings) -> Callable[[], list[str]]:
    from transformers import pipeline

    pipe = pipeline("text-generation", model=adapter.model, tokenizer=adapter.tokenizer, device=adapter.device)
    kwargs = {"max_new_tokens": settings.max_new_tokens, "do_sample": False, "return_full_text": False}
    pipe(texts[0], **kwargs)  # warm-up outside the timing

    def run() -> list[str]:
        return [pipe(t, **kwargs)[0]["generated_text"] for t in texts]

    return run


def forward_floor(adapter: HFAdapter, texts: list[str], settings: GenerationSettings) -> Callable[[], None]:
    """The adapter's batches (same prompts, order, sizes, left padding): prefill (LM head on the last
    position only) + greedy KV-cache steps, nothing else."""
    seqs = adapter.prompt_ids(texts, settings)
    lengths = [len(s) + settings.max_new_tokens for s in seqs]
    order = length_order(lengths)
    policy = adapter.rt.policy(full_vocab_logits=True)
    batches, start = [], 0
    while start < len(order):
        chunk = order[start:start + policy.size_for(lengths[order[start]])]
        width = max(len(seqs[i]) for i in chunk)
        ids = torch.full((len(chunk), width), adapter.pad_token_id)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, i in enumerate(chunk):
            ids[row, width - len(seqs[i]):] = torch.tensor(seqs[i])
            mask[row, width - len(seqs[i]):] = 1
        batches.append((ids, mask))
        start += len(chunk)
    model = adapter.model

    def run() -> None:
        with torch.inference_mode():
            for ids, mask in batches:
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                            logits_to_keep=1)
                for _ in range(settings.max_new_tokens - 1):
                    token = out.logits[:, -1].argmax(-1, keepdim=True)
                    mask = torch.cat([mask, torch.ones_like(token)], dim=1)
                    positions = positions[:, -1:] + 1
                    out = model(input_ids=token, attention_mask=mask, position_ids=positions,
                                past_key_values=out.past_key_values, use_cache=True)

    return run


def measure(model_dir: Path, n: int, max_new_tokens: int, repeats: int = 2) -> dict[str, Any]:
    texts = prompts(n)
    settings = GenerationSettings(max_new_tokens=max_new_tokens, chat=False)
    adapter = load_adapter("bench", ModelSpec(path=str(model_dir), kind="causal_lm"), prepared_dir=model_dir.parent,
                           cache_dir=None)
    adapter.set_cache(ResultCache.off())
    adapter.generate([GenerationRequest(t) for t in texts[:4]], settings)  # warm-up
    loop_run = pipeline_loop(adapter, texts, settings)
    floor_run = forward_floor(adapter, texts, settings)
    floor_run()
    t_loop, loop_texts = timed(loop_run)
    adapter_times, floor_times = [], []
    for _ in range(max(1, repeats)):
        t, generations = timed(lambda: adapter.generate([GenerationRequest(x) for x in texts], settings))
        adapter_times.append(t)
        floor_times.append(timed(floor_run)[0])
    t_adapter, t_floor = float(np.median(adapter_times)), float(np.median(floor_times))
    rows = {ROW_LOOP: t_loop, ROW_ADAPTER: t_adapter, ROW_FLOOR: t_floor}
    same = sum(a.strip() == g.text.strip() for a, g in zip(loop_texts, generations))
    return {"model": str(model_dir), "n": len(texts), "max_new_tokens": max_new_tokens, "device": adapter.device,
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "machine": platform.processor(),
            "load_average_1m": os.getloadavg()[0], "seconds": rows,
            "adapter_seconds_all": adapter_times, "floor_seconds_all": floor_times,
            "prompts_per_s": {k: len(texts) / v for k, v in rows.items()},
            "ratio_loop_over_adapter": t_loop / t_adapter, "ratio_adapter_over_floor": t_adapter / t_floor,
            "greedy_texts_equal_to_pipeline": f"{same}/{len(texts)}"}


def format_table(result: dict[str, Any]) -> str:
    lines = [f"model {result['model']}  n={result['n']}  max_new_tokens={result['max_new_tokens']}  "
             f"threads={result['torch_threads']}  load={result['load_average_1m']:.1f}",
             f"{'method':<18}{'seconds':>10}{'prompts/s':>11}"]
    for name, seconds in result["seconds"].items():
        lines.append(f"{name:<18}{seconds:>10.2f}{result['prompts_per_s'][name]:>11.2f}")
    lines.append(f"loop / adapter  = {result['ratio_loop_over_adapter']:.2f}x")
    lines.append(f"adapter / floor = {result['ratio_adapter_over_floor']:.2f}x")
    lines.append(f"greedy texts equal to the pipeline's: {result['greedy_texts_equal_to_pipeline']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a local causal LM folder (default: see module doc)")
    parser.add_argument("--n", type=int, default=40, help="number of prompts")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved adapter/floor timings (median)")
    add_run_options(parser)
    args = parse_run_options(parser, argv)
    with tempfile.TemporaryDirectory() as work:
        model_dir = args.model or default_model_dir(Path(work))
        result = measure(model_dir, args.n, args.max_new_tokens, args.repeats)
    return emit(result, format_table, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
