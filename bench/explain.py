"""SHAP and LIME as the tutorials use them vs the explainability suite's batched paths, same model and budget.

Same classifier, same real rt_polarity sentences, same budget, one process, one run each:
(a) SHAP tutorial: `shap.Explainer(transformers.pipeline(...))(sentences)` (Partition explainer,
    Text masker, max_evals=500, ~5 strings per model call);
(b) our SHAP: the suite's Partition run over token units ([MASK] replacement, as the Text masker
    does), every queue batch scored in one adapter call, duplicates dropped;
(c) LIME tutorial: `LimeTextExplainer().explain_instance(s, classifier_fn, num_samples=N)` with a
    classifier_fn that calls the pipeline one text at a time;
(d) our LIME: the suite's LIME, the whole neighbourhood in one adapter call;
(e) forward floors: only the model's forward passes over the distinct inputs (b) and (d) sent,
    in the adapter's own length-sorted batches.
Model evaluations are rows through the model (a forward hook counts them for the tutorials).
Attributions agreement: Pearson correlation per sentence of the predicted label's token (SHAP) or
word (LIME: our token weights summed per word) scores, averaged. This file is a benchmark, not
audit code: it calls the model directly on purpose, for (a), (c) and (e).

    python -m bench.explain [--model DIR] [--n 5] [--shap-evals 500] [--lime-samples 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from audit.models.adapters.base import IdsInput
from audit.models.adapters.batching import length_order, pad_batch
from audit.models.adapters.cache import ResultCache
from audit.models.adapters.hf import HFAdapter
from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec
from bench.adapter_throughput import default_model_dir, rt_polarity_sentences
from bench.common import add_run_options, emit, parse_run_options, timed
from suites.explainability.lime_method import lime_scores
from suites.explainability.objective import ClassifierObjective
from suites.explainability.scoring import Scorer
from suites.explainability.shap_method import shap_scores
from suites.explainability.subjects import Subject, encode_units
from suites.explainability.tokens import Masking

SEED = 0
_WORD = re.compile(r"\w+")


class RowCounter:
    """Counts rows (inputs) through the model with a forward pre-hook."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.rows = 0
        self.calls = 0
        self.handle = model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module: Any, args: tuple, kwargs: dict) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None:
            self.rows += int(ids.shape[0])
            self.calls += 1

    def take(self) -> tuple[int, int]:
        rows, calls = self.rows, self.calls
        self.rows = self.calls = 0
        return rows, calls


def ids_forward_floor(adapter: HFAdapter, seqs: list[tuple[int, ...]]) -> Callable[[], None]:
    """The adapter's batches for these id sequences, pre-built: only forward passes remain."""
    order = length_order([len(s) for s in seqs])
    policy = adapter.rt.policy()
    batches, start = [], 0
    while start < len(order):
        size = policy.size_for(len(seqs[order[start]]))
        ids, mask = pad_batch([seqs[i] for i in order[start:start + size]], adapter.pad_token_id)
        batches.append((ids.to(adapter.device), mask.to(adapter.device)))
        start += size

    def run() -> None:
        with torch.inference_mode():
            for ids, mask in batches:
                adapter.model(input_ids=ids, attention_mask=mask)

    return run


def pipeline_for(adapter: HFAdapter) -> Any:
    from transformers import pipeline

    pipe = pipeline("text-classification", model=adapter.model, tokenizer=adapter.tokenizer, device=adapter.device,
                    top_k=None)
    pipe("warm up")
    return pipe


def label_probs(pipe: Any, labels: list[str], text: str) -> list[float]:
    scores = pipe(text, truncation=True)
    scores = scores[0] if isinstance(scores[0], list) else scores
    by_label = {s["label"]: s["score"] for s in scores}
    return [by_label[label] for label in labels]


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if len(a) > 1 and np.std(a) > 0 and np.std(b) > 0 else float("nan")


def our_subjects(adapter: HFAdapter, texts: list[str]) -> tuple[Scorer, list[int]]:
    units = encode_units(adapter, texts)
    probs = adapter.classify_ids([IdsInput(u.input_ids) for u in units])
    subjects = [Subject(id=str(i), source_id=str(i), units=u, target=int(np.argmax(p)),
                        target_name=adapter.labels[int(np.argmax(p))]) for i, (u, p) in enumerate(zip(units, probs))]
    return Scorer(ClassifierObjective(adapter), subjects), [s.target for s in subjects]


def distinct_inputs(scorer: Scorer) -> list[tuple[int, ...]]:
    return [tuple(k) for k in scorer.distinct_inputs()]


def bench_shap(adapter: HFAdapter, texts: list[str], max_evals: int, counter: RowCounter) -> dict[str, Any]:
    import shap

    pipe = pipeline_for(adapter)
    shap.Explainer(pipe)(["a short warm-up sentence for numba"], max_evals=20, silent=True)  # JIT, both paths
    counter.take()
    np.random.seed(SEED)
    t_tutorial, tutorial = timed(lambda: shap.Explainer(pipe)(texts, max_evals=max_evals, silent=True))
    tutorial_rows, tutorial_calls = counter.take()
    scorer, targets = our_subjects(adapter, texts)
    counter.take()
    t_ours, ours = timed(lambda: shap_scores(scorer, range(len(texts)), "shap", max_evals=max_evals, batch_size=1024,
                                             masking=Masking.MASK_TOKEN, seed_for=lambda i: SEED + i))
    our_rows, our_calls = counter.take()
    floor = ids_forward_floor(adapter, distinct_inputs(scorer))
    floor()
    t_floor = timed(floor)[0]
    agreement = [pearson(np.asarray(tutorial.values[i])[1:-1, t], ours[i]) for i, t in enumerate(targets)]
    return {"seconds": {"tutorial": t_tutorial, "ours": t_ours, "floor": t_floor},
            "model_rows": {"tutorial": tutorial_rows, "ours": our_rows},
            "model_calls": {"tutorial": tutorial_calls, "ours": our_calls},
            "agreement_pearson_mean": float(np.nanmean(agreement)), "agreement_pearson": agreement}


def word_weights(text: str, offsets: list[tuple[int, int]], scores: np.ndarray) -> dict[str, float]:
    """Token scores summed per \\w+ word (LIME's default features, bag of words)."""
    out: dict[str, float] = {}
    words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
    for (a, _), score in zip(offsets, scores):
        for start, end, word in words:
            if start <= a < end:
                out[word] = out.get(word, 0.0) + float(score)
    return out


def bench_lime(adapter: HFAdapter, texts: list[str], samples: int, counter: RowCounter) -> dict[str, Any]:
    from lime.lime_text import LimeTextExplainer

    pipe = pipeline_for(adapter)
    labels = adapter.labels
    scorer, targets = our_subjects(adapter, texts)

    def one_at_a_time(batch: list[str]) -> np.ndarray:
        return np.array([label_probs(pipe, labels, t) for t in batch])

    counter.take()

    def tutorial_run() -> list[Any]:
        explainer = LimeTextExplainer(class_names=labels, random_state=SEED)
        return [explainer.explain_instance(t, one_at_a_time, labels=(target,), num_features=100, num_samples=samples)
                for t, target in zip(texts, targets)]

    t_tutorial, tutorial = timed(tutorial_run)
    tutorial_rows, tutorial_calls = counter.take()
    t_ours, ours = timed(lambda: lime_scores(scorer, range(len(texts)), "lime", num_samples=samples,
                                             kernel_width=25.0, masking=Masking.REMOVE,
                                             seed_for=lambda i: SEED + i))
    our_rows, our_calls = counter.take()
    floor = ids_forward_floor(adapter, distinct_inputs(scorer))
    floor()
    t_floor = timed(floor)[0]
    agreement = []
    for i, (explanation, target) in enumerate(zip(tutorial, targets)):
        theirs = dict(explanation.as_list(label=target))
        mine = word_weights(texts[i], list(scorer.subjects[i].units.offsets), ours[i])
        common = [w for w in theirs if w in mine]
        agreement.append(pearson(np.array([theirs[w] for w in common]), np.array([mine[w] for w in common])))
    return {"seconds": {"tutorial": t_tutorial, "ours": t_ours, "floor": t_floor},
            "model_rows": {"tutorial": tutorial_rows, "ours": our_rows},
            "model_calls": {"tutorial": tutorial_calls, "ours": our_calls},
            "agreement_pearson_mean": float(np.nanmean(agreement)), "agreement_pearson": agreement}


def measure(model_dir: Path, n: int, shap_evals: int, lime_samples: int) -> dict[str, Any]:
    texts = rt_polarity_sentences(n)
    adapter = load_adapter("bench", ModelSpec(path=str(model_dir)), prepared_dir=model_dir.parent, cache_dir=None)
    adapter.set_cache(ResultCache.off())
    adapter.classify(texts)  # warm-up
    counter = RowCounter(adapter.model)
    return {"model": str(model_dir), "n": len(texts), "device": adapter.device,
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "load_average_1m": os.getloadavg()[0],
            "shap": {"max_evals": shap_evals, **bench_shap(adapter, texts, shap_evals, counter)},
            "lime": {"num_samples": lime_samples, **bench_lime(adapter, texts, lime_samples, counter)}}


def format_table(result: dict[str, Any]) -> str:
    n = result["n"]
    lines = [f"model {result['model']}  n={n}  device={result['device']}  threads={result['torch_threads']}  "
             f"load={result['load_average_1m']:.1f}",
             f"{'method':<34}{'s/sentence':>12}{'model rows':>12}{'model calls':>13}"]
    for key, label in (("shap", f"SHAP max_evals={result['shap']['max_evals']}"),
                       ("lime", f"LIME num_samples={result['lime']['num_samples']}")):
        part = result[key]
        for who in ("tutorial", "ours", "floor"):
            rows = part["model_rows"].get(who, "")
            calls = part["model_calls"].get(who, "")
            lines.append(f"{label + ' ' + who:<34}{part['seconds'][who] / n:>12.3f}{rows!s:>12}{calls!s:>13}")
        s = part["seconds"]
        lines.append(f"  {key}: tutorial / ours = {s['tutorial'] / s['ours']:.2f}x, ours / floor = "
                     f"{s['ours'] / s['floor']:.2f}x, model rows tutorial / ours = "
                     f"{part['model_rows']['tutorial'] / max(1, part['model_rows']['ours']):.2f}x, "
                     f"attribution correlation {part['agreement_pearson_mean']:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a local HF classifier folder (default: prepared minilm-sentiment)")
    parser.add_argument("--n", type=int, default=5, help="number of rt_polarity sentences")
    parser.add_argument("--shap-evals", type=int, default=500)
    parser.add_argument("--lime-samples", type=int, default=1000)
    add_run_options(parser)
    args = parse_run_options(parser, argv)
    with tempfile.TemporaryDirectory() as work:
        model_dir = args.model or default_model_dir(Path(work))
        result = measure(model_dir, args.n, args.shap_evals, args.lime_samples)
    return emit(result, format_table, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
