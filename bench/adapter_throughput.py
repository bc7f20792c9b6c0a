"""Classifier throughput: a tutorial-style pipeline loop vs HFAdapter.classify vs the bare forward floor.

All three run the same model on the same real rt_polarity sentences, once each, in one process:
(a) `transformers.pipeline("text-classification")` called once per sentence, as tutorials do;
(b) `HFAdapter.classify(all_sentences)` with the result cache off (median of --repeats runs);
(c) the floor: only the model's forward passes over the same length-sorted, padded batches the
    adapter builds, pre-tokenized, with no Python around them.
This file is a benchmark, not audit code: it calls the model directly on purpose, for (a) and (c).

    python -m bench.adapter_throughput [--model DIR] [--n 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from bench.common import add_run_options, emit, minilm_with_head, parse_run_options, timed
from audit.models.adapters.batching import length_order, pad_batch
from audit.models.adapters.cache import ResultCache
from audit.models.adapters.hf import HFAdapter
from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec, default_cache_dir
from audit.data.resolver import builtin_path

PREPARED_MODEL = "minilm-sentiment"
ROW_LOOP = "pipeline loop"
ROW_ADAPTER = "adapter.classify"
ROW_FLOOR = "forward floor"


def rt_polarity_sentences(n: int) -> list[str]:
    """The first n/2 positive and n/2 negative sentences, interleaved (real lengths, real text)."""
    folder = builtin_path("rt_polarity")
    pos = (folder / "rt-polarity.pos").read_text(encoding="utf-8").splitlines()
    neg = (folder / "rt-polarity.neg").read_text(encoding="utf-8").splitlines()
    mixed = [s.strip() for pair in zip(pos, neg) for s in pair if s.strip()]
    return mixed[:n]


def default_model_dir(workdir: Path) -> Path:
    """prepared:minilm-sentiment when it exists, else MiniLM with a random 2-label head (fine for speed)."""
    prepared = default_cache_dir() / "prepared" / PREPARED_MODEL
    if (prepared / "config.json").is_file():
        return prepared
    from transformers import BertForSequenceClassification

    return minilm_with_head(BertForSequenceClassification, workdir / "minilm-random-head", num_labels=2)


def pipeline_loop(adapter: HFAdapter, texts: list[str]) -> Callable[[], np.ndarray]:
    """A timed-later closure: one pipeline call per sentence (warm-up done here, outside the timing)."""
    from transformers import pipeline

    pipe = pipeline("text-classification", model=adapter.model, tokenizer=adapter.tokenizer,
                    device=adapter.device, top_k=None)
    pipe(texts[0])  # warm-up outside the timing
    labels = adapter.labels

    def run() -> np.ndarray:
        rows = []
        for text in texts:
            scores = pipe(text, truncation=True, max_length=adapter.max_length)
            scores = scores[0] if isinstance(scores[0], list) else scores
            by_label = {s["label"]: s["score"] for s in scores}
            rows.append([by_label[label] for label in labels])
        return np.array(rows)

    return run


def forward_floor(adapter: HFAdapter, texts: list[str]) -> Callable[[], None]:
    """The adapter's own batches (same order, sizes, padding), pre-built: only forward passes remain."""
    seqs = adapter.tokenize(texts)
    order = length_order([len(s) for s in seqs])
    policy = adapter.rt.policy()
    batches, start = [], 0
    while start < len(order):
        size = policy.size_for(len(seqs[order[start]]))
        chunk = order[start:start + size]
        ids, mask = pad_batch([seqs[i] for i in chunk], adapter.pad_token_id)
        batches.append((ids.to(adapter.device), mask.to(adapter.device)))
        start += size
    model = adapter.model

    def run() -> None:
        with torch.inference_mode():
            for ids, mask in batches:
                model(input_ids=ids, attention_mask=mask)

    return run


def measure(model_dir: Path, n: int, repeats: int = 3) -> dict[str, Any]:
    texts = rt_polarity_sentences(n)
    adapter = load_adapter("bench", ModelSpec(path=str(model_dir)), prepared_dir=model_dir.parent, cache_dir=None)
    adapter.set_cache(ResultCache.off())
    adapter.classify(texts[:8])  # warm-up: thread pools, allocator
    loop_run = pipeline_loop(adapter, texts)
    floor_run = forward_floor(adapter, texts)
    floor_run()  # warm-up at the real batch shapes
    t_loop, loop_probs = timed(loop_run)
    adapter_times, floor_times = [], []
    for _ in range(max(1, repeats)):  # interleaved, so machine load drifts hit both alike
        t, adapter_probs = timed(lambda: adapter.classify(texts))
        adapter_times.append(t)
        floor_times.append(timed(floor_run)[0])
    t_adapter, t_floor = float(np.median(adapter_times)), float(np.median(floor_times))
    rows = {ROW_LOOP: t_loop, ROW_ADAPTER: t_adapter, ROW_FLOOR: t_floor}
    return {
        "model": str(model_dir), "n": len(texts), "device": adapter.device, "dtype": adapter.model_info()["dtype"],
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "machine": platform.processor(),
        "load_average_1m": os.getloadavg()[0],
        "seconds": rows, "repeats_adapter_and_floor": max(1, repeats),
        "adapter_seconds_all": adapter_times, "floor_seconds_all": floor_times, "items_per_s": {k: len(texts) / v for k, v in rows.items()},
        "ratio_loop_over_adapter": t_loop / t_adapter, "ratio_adapter_over_floor": t_adapter / t_floor,
        "max_abs_prob_diff_adapter_vs_pipeline": float(np.abs(adapter_probs - loop_probs).max()),
    }


def format_table(result: dict[str, Any]) -> str:
    lines = [f"model {result['model']}  n={result['n']}  device={result['device']}  dtype={result['dtype']}  "
             f"threads={result['torch_threads']}  load={result['load_average_1m']:.1f}",
             f"{'method':<18}{'seconds':>10}{'items/s':>10}"]
    for name, seconds in result["seconds"].items():
        lines.append(f"{name:<18}{seconds:>10.2f}{result['items_per_s'][name]:>10.1f}")
    lines.append(f"loop / adapter  = {result['ratio_loop_over_adapter']:.2f}x")
    lines.append(f"adapter / floor = {result['ratio_adapter_over_floor']:.2f}x")
    lines.append(f"max |p_adapter - p_pipeline| = {result['max_abs_prob_diff_adapter_vs_pipeline']:.2e}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a local HF classifier folder (default: see module doc)")
    parser.add_argument("--n", type=int, default=300, help="number of rt_polarity sentences")
    add_run_options(parser)
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved timings of adapter and floor (median reported); the loop runs once")
    args = parse_run_options(parser, argv)
    with tempfile.TemporaryDirectory() as work:
        model_dir = args.model or default_model_dir(Path(work))
        result = measure(model_dir, args.n, args.repeats)
    return emit(result, format_table, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
