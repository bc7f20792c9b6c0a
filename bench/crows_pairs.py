"""CrowS-Pairs PLL scoring: the suite's code path vs the reference loop vs the forward floor.

All three score the same real CrowS-Pairs pairs with the same masked LM, in one process:
(a) the reference loop (Nangia et al.'s metric.py): one forward pass per masked sentence, full
    vocabulary logits at every position, on the first --limit pairs (it is slow);
(b) ours: `suites.bias.pll.score_pairs_masked` (tokenize, difflib spans, one masked_scores list
    through HFAdapter with its result cache off), on --pairs pairs;
(c) the floor: only the model's forward passes over the same length-sorted, padded batches the
    adapter builds, with the MLM head applied only at the masked position (as ours), pre-built.
Scores of (a) and (b) are asserted identical on the pairs both scored. This file is a benchmark,
not audit code: it calls the model directly on purpose, for (a) and (c).

The default model is a BertForMaskedLM with the real all-MiniLM-L6-v2 encoder weights and a
RANDOM MLM head (no masked LM with its head is available offline): right for timing, the
scores themselves mean nothing.

    python -m bench.crows_pairs [--model DIR] [--limit 100] [--pairs N] [--json out.json]
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

from audit.models.adapters.base import MaskedQuery
from bench.common import add_run_options, emit, minilm_with_head, parse_run_options, timed
from audit.models.adapters.batching import length_order, pad_batch
from audit.models.adapters.cache import ResultCache
from audit.models.adapters.hf import HFAdapter
from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec
from audit.data.resolver import DataResolver
from suites.bias.crows_pairs import DEFAULT_DATA, CrowsPair, load_pairs
from suites.bias.pll import masked_query, score_pairs_masked, shared_positions, special_token_ids

ROW_LOOP = "reference loop"
ROW_OURS = "ours (suite path)"
ROW_FLOOR = "forward floor"
SCORE_ATOL = 1e-4


def default_model_dir(workdir: Path) -> Path:
    """MiniLM's real encoder under a random (seeded) MLM head, saved as a plain HF folder."""
    from transformers import BertForMaskedLM

    return minilm_with_head(BertForMaskedLM, workdir / "minilm-random-mlm-head")


def reference_loop(adapter: HFAdapter, pairs: list[CrowsPair]) -> Callable[[], np.ndarray]:
    """metric.py's mask_unigram, transcribed: per shared token, mask it and run the whole model."""
    model, tok = adapter.model, adapter.tokenizer
    mask_id = tok.mask_token_id

    def one(sent1: str, sent2: str) -> tuple[float, float]:
        ids1 = tok.encode(sent1, return_tensors="pt").to(adapter.device)
        ids2 = tok.encode(sent2, return_tensors="pt").to(adapter.device)
        pos1, pos2 = shared_positions(ids1[0].tolist(), ids2[0].tolist(), frozenset())
        scores = [0.0, 0.0]
        for i in range(1, len(pos1) - 1):  # the reference skips [CLS] and [SEP]
            for k, (ids, pos) in enumerate(((ids1, pos1[i]), (ids2, pos2[i]))):
                masked = ids.clone()
                masked[0][pos] = mask_id
                hidden = model(masked)[0].squeeze(0)
                scores[k] += torch.log_softmax(hidden[pos], dim=-1)[ids[0][pos]].item()
        return scores[0], scores[1]

    def run() -> np.ndarray:
        with torch.no_grad():
            return np.array([one(p.sent_more, p.sent_less) for p in pairs])

    return run


def forward_floor(adapter: HFAdapter, pairs: list[CrowsPair]) -> Callable[[], None]:
    """The adapter's own batches (unique masked sequences, same order, sizes, padding), pre-built."""
    mask_id = int(adapter.mask_token_id)
    special = special_token_ids(adapter)
    ids = adapter.tokenize([t for p in pairs for t in (p.sent_more, p.sent_less)])
    queries: list[MaskedQuery] = []
    for a, b in zip(ids[0::2], ids[1::2]):
        pos_a, pos_b = shared_positions(a, b, special)
        queries += [masked_query(a, p, mask_id) for p in pos_a] + [masked_query(b, p, mask_id) for p in pos_b]
    grouped: dict[tuple[int, ...], dict[int, set[int]]] = {}
    for q in queries:
        grouped.setdefault(q.input_ids, {}).setdefault(q.position, set()).update(q.target_ids)
    jobs = [(seq, sorted(by_pos), [sorted(by_pos[p]) for p in sorted(by_pos)]) for seq, by_pos in grouped.items()]
    order = length_order([len(j[0]) for j in jobs])
    policy = adapter.rt.policy()
    batches, start = [], 0
    while start < len(order):
        size = policy.size_for(len(jobs[order[start]][0]))
        chunk = [jobs[i] for i in order[start:start + size]]
        input_ids, mask = pad_batch([j[0] for j in chunk], adapter.pad_token_id)
        rows = torch.tensor([r for r, j in enumerate(chunk) for _ in j[1]])
        cols = torch.tensor([p for j in chunk for p in j[1]])
        targets = torch.tensor([t[0] for j in chunk for t in j[2]])
        batches.append(tuple(x.to(adapter.device) for x in (input_ids, mask, rows, cols, targets)))
        start += size
    head = adapter._masked.head.resolve(batches[0][0][:1], batches[0][1][:1])
    if head is None:
        raise SystemExit("this model's MLM head cannot be applied at the mask alone; the floor needs it")
    base = adapter.model.base_model

    def run() -> None:
        with torch.inference_mode():
            for input_ids, mask, rows, cols, targets in batches:
                hidden = base(input_ids=input_ids, attention_mask=mask)[0]
                logprobs = torch.log_softmax(head(hidden[rows, cols]).float(), dim=-1)
                logprobs.gather(1, targets[:, None])

    return run


def measure(model_dir: Path, limit: int, n_pairs: int | None, repeats: int) -> dict[str, Any]:
    resolver = DataResolver(config_dir=Path.cwd(), prepared_dir=Path.cwd())
    pairs = load_pairs(resolver, DEFAULT_DATA)[:n_pairs]
    adapter = load_adapter("bench", ModelSpec(path=str(model_dir)), prepared_dir=model_dir.parent, cache_dir=None)
    adapter.set_cache(ResultCache.off())
    pair_texts = [(p.sent_more, p.sent_less) for p in pairs]
    score_pairs_masked(adapter, pair_texts[:4])  # warm-up: thread pools, allocator, head check
    floor_run = forward_floor(adapter, pairs)
    loop_pairs = pairs[:limit]
    t_loop, loop_scores = timed(reference_loop(adapter, loop_pairs))
    ours_times, floor_times, ours = [], [], None
    for _ in range(max(1, repeats)):  # interleaved, so machine load drifts hit both alike
        t, ours = timed(lambda: score_pairs_masked(adapter, pair_texts))
        ours_times.append(t)
        floor_times.append(timed(floor_run)[0])
    assert ours is not None
    ours_scores = np.stack([ours.first[:limit], ours.second[:limit]], axis=1)
    max_diff = float(np.abs(ours_scores - loop_scores).max())
    assert max_diff <= SCORE_ATOL, f"ours and the reference loop disagree by {max_diff}"
    t_ours, t_floor = float(np.median(ours_times)), float(np.median(floor_times))
    per_pair = {ROW_LOOP: t_loop / len(loop_pairs), ROW_OURS: t_ours / len(pairs), ROW_FLOOR: t_floor / len(pairs)}
    return {
        "model": str(model_dir), "pairs": len(pairs), "loop_pairs": len(loop_pairs), "device": adapter.device,
        "queries": ours.n_queries, "unique_queries": ours.n_unique_queries,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "machine": platform.processor(),
        "load_average_1m": os.getloadavg()[0], "repeats_ours_and_floor": max(1, repeats),
        "seconds": {ROW_LOOP: t_loop, ROW_OURS: t_ours, ROW_FLOOR: t_floor},
        "ours_seconds_all": ours_times, "floor_seconds_all": floor_times,
        "seconds_per_pair": per_pair,
        "ratio_loop_over_ours": per_pair[ROW_LOOP] / per_pair[ROW_OURS],
        "ratio_ours_over_floor": t_ours / t_floor,
        "max_abs_score_diff_ours_vs_loop": max_diff,
    }


def format_table(result: dict[str, Any]) -> str:
    lines = [f"model {result['model']}  device={result['device']}  threads={result['torch_threads']}  "
             f"load={result['load_average_1m']:.1f}",
             f"pairs {result['pairs']} (reference loop on {result['loop_pairs']}), "
             f"{result['queries']} masked queries, {result['unique_queries']} unique",
             f"{'method':<20}{'seconds':>10}{'s/pair':>10}"]
    for name, seconds in result["seconds"].items():
        lines.append(f"{name:<20}{seconds:>10.2f}{result['seconds_per_pair'][name]:>10.4f}")
    lines.append(f"loop / ours  (per pair) = {result['ratio_loop_over_ours']:.2f}x")
    lines.append(f"ours / floor            = {result['ratio_ours_over_floor']:.2f}x")
    lines.append(f"max |score ours - score loop| = {result['max_abs_score_diff_ours_vs_loop']:.2e}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a local HF masked-LM folder (default: see module doc)")
    parser.add_argument("--limit", type=int, default=100, help="pairs for the slow reference loop")
    parser.add_argument("--pairs", type=int, default=None, help="pairs for ours and the floor (default: all 1,508)")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved timings of ours and the floor (median)")
    add_run_options(parser)
    args = parse_run_options(parser, argv)
    with tempfile.TemporaryDirectory() as work:
        model_dir = args.model or default_model_dir(Path(work))
        result = measure(model_dir, args.limit, args.pairs, args.repeats)
    return emit(result, format_table, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
