"""Adversarial attacks: the suite's batched search vs the same search one candidate at a time vs the floor.

The same TextFooler-style word attack and DeepWordBug-style character attack, the same classifier,
sentence encoder and real rt_polarity examples, in one process:
(a) one at a time: the suite's own search code, but every classify / embed request goes to the model
    alone (a batch of one), as a naive loop or TextAttack at batch size 1 runs it;
(b) ours: the suite's code path (`suites.robustness.attacks.run.run_attack`): every step's candidates
    in one batch, a memo per example, the adapter's in-memory result cache;
(c) the floor: only the forward passes over the texts (b) made the models compute, in (b)'s batches,
    pre-tokenized and padded, with no Python around them.
(b) and (c) are timed --repeats times, interleaved; the fastest of each is reported (on a shared
machine the minimum is the least disturbed run); (a) runs once, after them.
(a) and (b) take the same decisions, so they must find identical adversarial examples (checked).
This file is a benchmark, not audit code: it calls the models directly on purpose, for (c).

    python -m bench.attack [--n 20] [--model DIR] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from audit.models.adapters.base import CachePolicy
from audit.models.adapters.batching import length_order, pad_batch
from audit.models.adapters.cache import ResultCache
from audit.models.resolve import load_adapter
from audit.models.adapters.metering import QueryMeter
from audit.config.schema import ModelSpec, default_cache_dir
from audit.data.resolver import builtin_path
from audit.data.wordnet import load_wordnet
from bench.common import add_run_options, emit, parse_run_options, timed
from suites.robustness.attacks.char import CharAttack
from suites.robustness.attacks.run import AttackRecord, run_attack
from suites.robustness.attacks.word import WordAttack
from suites.robustness.config import SENTENCE_ENCODER, CharAttackConfig, WordAttackConfig
from suites.robustness.data import Examples
from suites.robustness.lexicon import WordNetLexicon

PREPARED_MODEL = "minilm-sentiment"
ROW_LOOP = "one at a time"
ROW_OURS = "ours (suite path)"
ROW_FLOOR = "forward floor"


def rt_examples(n: int) -> Examples:
    """The first n/2 positive and n/2 negative rt-polarity sentences, interleaved, with labels."""
    folder = builtin_path("rt_polarity")
    pos = (folder / "rt-polarity.pos").read_text(encoding="utf-8").splitlines()
    neg = (folder / "rt-polarity.neg").read_text(encoding="utf-8").splitlines()
    rows = [(s.strip(), label) for pair in zip(pos, neg) for s, label in zip(pair, (1, 0)) if s.strip()][:n]
    return Examples(folder, [f"rt{i}" for i in range(len(rows))], [t for t, _ in rows],
                    np.array([label for _, label in rows], dtype=np.int64))


class OneAtATime:
    """Forwards to an adapter, but sends every classify / embed request to it alone."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def classify(self, texts: list[str], *, cache: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        return np.vstack([self._inner.classify([t], cache=cache) for t in texts])

    def embed(self, texts: list[str], *, cache: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        return np.vstack([self._inner.embed([t], cache=cache) for t in texts])


class CallLog:
    """Forwards to an adapter and logs, per call, the texts the model had not seen before (its misses,
    given an in-memory cache large enough to keep everything)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.seen: set[str] = set()
        self.batches: list[tuple[str, list[str]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _log(self, kind: str, texts: list[str]) -> None:
        new = [t for t in dict.fromkeys(texts) if t not in self.seen]
        self.seen.update(new)
        if new:
            self.batches.append((kind, new))

    def classify(self, texts: list[str], *, cache: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        self._log("classify", list(texts))
        return self._inner.classify(texts, cache=cache)

    def embed(self, texts: list[str], *, cache: CachePolicy = CachePolicy.PERSIST) -> np.ndarray:
        self._log("embed", list(texts))
        return self._inner.embed(texts, cache=cache)


def attacks(lexicon: WordNetLexicon, encoder: Any) -> list[Any]:
    return [WordAttack(lexicon, WordAttackConfig(), encoder),
            CharAttack(CharAttackConfig(), lambda example_id, index: np.random.default_rng([len(example_id), index,
                                                                                          sum(map(ord, example_id))]))]


def run_all(classifier: Any, encoder: Any, lexicon: WordNetLexicon, examples: Examples) -> dict[str, Any]:
    """Both attacks over the examples through `classifier` and `encoder`; records and meter totals."""
    meter, encoder_meter = QueryMeter(classifier), QueryMeter(encoder)
    records: list[AttackRecord] = []
    for attack in attacks(lexicon, encoder_meter.adapter):
        records += run_attack(attack, examples, meter, encoder_meter)
    return {"records": records, "classifier": meter.totals.as_dict(), "encoder": encoder_meter.totals.as_dict()}


def fresh(adapter: Any) -> Any:
    adapter.set_cache(ResultCache(None))        # in memory only, empty
    return adapter


def floor_run(batches: list[tuple[str, list[str]]], classifier: Any, encoder: Any) -> Callable[[], None]:
    """(b)'s computed batches, pre-built: classify -> the classifier, embed -> the encoder's base model."""
    built = []
    for kind, texts in batches:
        adapter = classifier if kind == "classify" else encoder
        seqs = adapter.tokenize(texts)
        order = length_order([len(s) for s in seqs])
        ids, mask = pad_batch([seqs[i] for i in order], adapter.pad_token_id)
        model = adapter.model if kind == "classify" else adapter.model.base_model
        built.append((model, ids.to(adapter.device), mask.to(adapter.device)))

    def run() -> None:
        with torch.inference_mode():
            for model, ids, mask in built:
                model(input_ids=ids, attention_mask=mask)

    return run


def outcome_key(records: list[AttackRecord]) -> list[tuple[str, str, str, str | None]]:
    return [(r.attack, r.example_id, r.status, r.adversarial) for r in records]


def measure(model_dir: Path, n: int, repeats: int) -> dict[str, Any]:
    prepared = model_dir.parent
    classifier = load_adapter("bench", ModelSpec(path=str(model_dir), dtype="float32"), prepared_dir=prepared,
                              cache_dir=None)
    encoder = load_adapter("encoder", ModelSpec(path=SENTENCE_ENCODER, kind="encoder", dtype="float32"),
                           prepared_dir=prepared, cache_dir=None)
    wordnet = load_wordnet(default_cache_dir())
    if wordnet is None:
        raise SystemExit("WordNet not found: install Debian's wordnet-base (see README)")
    lexicon = WordNetLexicon(wordnet.reader)
    examples = rt_examples(n)
    run_all(fresh(classifier), fresh(encoder), lexicon, examples.head(2))       # warm-up
    ours_times, floor_times = [], []
    ours = logged_classifier = logged_encoder = None
    for _ in range(max(1, repeats)):
        logged_classifier, logged_encoder = CallLog(fresh(classifier)), CallLog(fresh(encoder))
        t, ours = timed(lambda: run_all(logged_classifier, logged_encoder, lexicon, examples))
        ours_times.append(t)
        floor = floor_run(logged_classifier.batches + logged_encoder.batches, classifier, encoder)
        floor_times.append(timed(floor)[0])
    t_loop, loop = timed(lambda: run_all(OneAtATime(fresh(classifier)), OneAtATime(fresh(encoder)), lexicon,
                                         examples))
    same = sum(a == b for a, b in zip(outcome_key(ours["records"]), outcome_key(loop["records"])))
    # the fastest of the interleaved repeats: on a shared machine the minimum is the least disturbed run
    t_ours, t_floor = min(ours_times), min(floor_times)
    pair_ratios = [a / b for a, b in zip(ours_times, floor_times)]
    succeeded = {name: sum(r.succeeded for r in ours["records"] if r.attack == name) for name in ("word", "char")}
    attacked = {name: sum(r.attacked for r in ours["records"] if r.attack == name) for name in ("word", "char")}
    return {
        "model": str(model_dir), "n": len(examples), "device": classifier.device, "dtype": "float32",
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "machine": platform.processor(),
        "load_average_1m": os.getloadavg()[0], "repeats_ours_and_floor": max(1, repeats),
        "seconds": {ROW_LOOP: t_loop, ROW_OURS: t_ours, ROW_FLOOR: t_floor},
        "ours_seconds_all": ours_times, "floor_seconds_all": floor_times,
        "ratio_loop_over_ours": t_loop / t_ours, "ratio_ours_over_floor": t_ours / t_floor,
        "ratio_ours_over_floor_per_repeat": pair_ratios,
        "ours_queries": {"classifier": ours["classifier"], "encoder": ours["encoder"]},
        "loop_queries": {"classifier": loop["classifier"], "encoder": loop["encoder"]},
        "model_calls": {"ours": len(logged_classifier.batches) + len(logged_encoder.batches)},
        "attacked": attacked, "succeeded": succeeded,
        "identical_outcomes": same, "outcomes": len(ours["records"]),
    }


def format_table(result: dict[str, Any]) -> str:
    q = result["ours_queries"]
    lines = [f"model {result['model']}  n={result['n']} examples x 2 attacks  device={result['device']}  "
             f"dtype={result['dtype']}  threads={result['torch_threads']}  load={result['load_average_1m']:.1f}",
             f"{'method':<20}{'seconds':>10}"]
    lines += [f"{name:<20}{seconds:>10.2f}" for name, seconds in result["seconds"].items()]
    per_repeat = ", ".join(f"{r:.2f}" for r in result["ratio_ours_over_floor_per_repeat"])
    lines += [f"one at a time / ours = {result['ratio_loop_over_ours']:.2f}x",
              f"ours / floor         = {result['ratio_ours_over_floor']:.2f}x (each repeat: {per_repeat})",
              f"classifier: {q['classifier']['requests']} requests, {q['classifier']['model_queries']} model queries, "
              f"{q['classifier']['cache_hits']} cache hits; encoder: {q['encoder']['requests']} requests, "
              f"{q['encoder']['model_queries']} model queries; {result['model_calls']['ours']} batched model calls",
              f"succeeded: word {result['succeeded']['word']}/{result['attacked']['word']}, "
              f"char {result['succeeded']['char']}/{result['attacked']['char']} attacked",
              f"identical outcomes (status and adversarial text), ours vs one at a time: "
              f"{result['identical_outcomes']}/{result['outcomes']}"]
    return "\n".join(lines)


def default_model_dir() -> Path | None:
    prepared = default_cache_dir() / "prepared" / PREPARED_MODEL
    return prepared if (prepared / "config.json").is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a local HF classifier folder (default: prepared minilm-sentiment)")
    parser.add_argument("--n", type=int, default=20, help="rt_polarity examples (each attacked by both attacks)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved timings of ours and the floor (the fastest is reported)")
    add_run_options(parser)
    args = parse_run_options(parser, argv)
    model_dir = args.model or default_model_dir()
    if model_dir is None:
        print("bench.attack skipped: prepared:minilm-sentiment not found (an attack needs a real classifier); "
              "run `python run_audit.py prepare` or pass --model DIR")
        return 0
    result = measure(model_dir, args.n, args.repeats)
    return emit(result, format_table, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
