"""Recompute the suites' numbers from results.json alone, with the peer libraries (#17; slow, real models).

One small audit run (minilm-sentiment explained by SHAP and LIME; smollm2-135m on the shipped
bbq_disambig_mc lm-eval task) writes results.json. Each test then reads only that file (the
recorded ids, token ids, seeds and settings) and the model folder it names, and reruns the number
with another library's own code: shap's PartitionExplainer over a shap Partition masker, lime's
LimeTextExplainer, and lm-eval's CLI with its HF backend on the shipped task folder. No suite code
is imported (only the lm-eval control reads the shipped task loader, as lm-eval itself does). Each agreement has a control: a recorded setting changed (batch size, tree, seed,
sample count) moves the numbers far outside the tolerance.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import shap
import torch
from lime.lime_text import LimeTextExplainer
from shap.maskers._text import partition_tree
from transformers import AutoModelForSequenceClassification, AutoTokenizer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CLASSIFIER, CAUSAL, TASK = "minilm-sentiment", "smollm2-135m", "bbq_disambig_mc"
SHAP_TOLERANCE = 1e-5     # abs, in p(target); measured ≤ 6e-8 (float32, padding in other batches)
LIME_TOLERANCE = 1e-5     # abs, in p(target); measured ≤ 5e-8
SHORT = "quietly brilliant and warm"
CONTROL_GAP = 1e-3        # a changed setting must move some attribution by more than this
F = Callable[[np.ndarray], np.ndarray]

CONFIG = """\
seed: 0
cache_dir: {cache}
models:
  {classifier}: {{path: {prepared}/{classifier}, kind: classifier, dtype: float32}}
  {causal}: {{path: {prepared}/{causal}, kind: causal_lm, dtype: float32}}
suites:
  - suite: accuracy
    models: [{causal}]
    config:
      lm_eval: {{tasks: [{task}], limit: 6}}
  - suite: explainability
    models: [{classifier}]
    config:
      examples: {{dataset: {{path: {data}}}, n: 4}}
      methods: [shap, lime]
      shap: {{max_evals_cap: 256}}   # 3 partition queues (2 truncated: batch size matters), 1 exact (<= 10 tokens)
      lime: {{num_samples: 200}}
      stability: {{enabled: false}}
      ground_truth: {{randomisation: {{enabled: false}}, shortcut: {{enabled: false}}}}
      precision: {{other_masking: false, seed_stability: false, n: 2}}
"""


@pytest.fixture(scope="module")
def results_path(prepared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from audit.api import run_audit

    folder = tmp_path_factory.mktemp("recompute")
    config = folder / "audit.yaml"
    data = folder / "explained.jsonl"      # the first three test sentences and a short one (exact Shapley)
    lines = (prepared_dir / "rt_polarity" / "test.jsonl").read_text().splitlines()[:3]
    data.write_text("\n".join(lines + [json.dumps({"id": "short", "text": SHORT, "label": "positive"})]) + "\n")
    config.write_text(CONFIG.format(cache=folder / "cache", prepared=prepared_dir, classifier=CLASSIFIER,
                                    causal=CAUSAL, task=TASK, data=data))
    started = time.perf_counter()
    run_audit(config, folder / "out", show_progress=False, store_path=folder / "history.sqlite", renderers=["json"])
    print(f"audit run: {time.perf_counter() - started:.1f} s wall")
    return folder / "out" / "results.json"


def _suite(results: dict, name: str) -> dict:
    return next(s for s in results["suites"] if s["suite"] == name)


def _model_path(results: dict, model: str) -> str:
    return results["provenance"]["models"][model]["path"]


@pytest.fixture(scope="module")
def explained(results_path: Path) -> tuple[dict, object, object]:
    """(the explainability suite's entry, tokenizer, classifier), loaded with transformers alone."""
    results = json.loads(results_path.read_text())
    suite = _suite(results, "explainability")
    assert results["provenance"]["models"][CLASSIFIER]["details"]["dtype"] == "float32"
    path = _model_path(results, CLASSIFIER)
    model = AutoModelForSequenceClassification.from_pretrained(path, dtype=torch.float32).eval()
    return suite, AutoTokenizer.from_pretrained(path), model


def classifier_f(tokenizer, model, example: dict, masking: str) -> F:
    """f(keep matrix) = p(target | text with the hidden features dropped), from the recorded ids."""
    assert masking == "remove"
    ids = tokenizer(example["text"])["input_ids"]
    special = set(tokenizer.all_special_ids)
    positions = [p for p, t in enumerate(ids) if t not in special]
    assert [ids[p] for p in positions] == example["token_ids"]       # the recorded features are these tokens

    def f(keeps: np.ndarray) -> np.ndarray:
        rows = []
        for keep in np.asarray(keeps, dtype=bool):
            hidden = {p for p, k in zip(positions, keep) if not k}
            rows.append([t for p, t in enumerate(ids) if p not in hidden])
        out = []
        for start in range(0, len(rows), 128):
            batch = rows[start:start + 128]
            width = max(map(len, batch))
            input_ids = torch.tensor([r + [tokenizer.pad_token_id] * (width - len(r)) for r in batch])
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in batch])
            with torch.no_grad():
                logits = model(input_ids=input_ids, attention_mask=mask).logits.float()
            out.append(torch.softmax(logits, dim=-1)[:, example["target_index"]].numpy())
        return np.concatenate(out).astype(np.float64)
    return f


def shap_values(f: F, tree_tokens: list[str], *, max_evals: int, batch_size: int, seed: int) -> np.ndarray:
    """shap's own PartitionExplainer over a shap Partition masker (0 = hidden), the recorded tree recipe."""
    n = len(tree_tokens)
    tree = partition_tree(tree_tokens, [])
    tree[:, 2] = tree[:, 3]
    tree[:, 2] /= tree[:, 2].max()
    np.random.seed(seed % 2**32)
    explainer = shap.PartitionExplainer(f, shap.maskers.Partition(np.zeros((1, n)), clustering=tree))
    return np.asarray(explainer(np.ones((1, n)), max_evals=max_evals, batch_size=batch_size, silent=True).values[0])


def exact_shapley_values(f: F, n: int) -> np.ndarray:
    """shap's ExactExplainer without a hierarchy (an Independent masker, 0 = hidden): exact Shapley values."""
    explainer = shap.explainers.Exact(f, shap.maskers.Independent(np.zeros((1, n)), max_samples=1))
    return np.asarray(explainer(np.ones((1, n)), max_evals=2 ** n + 2, silent=True).values[0])


def lime_weights(f: F, n: int, *, num_samples: int, kernel_width: float, seed: int) -> np.ndarray:
    """lime's LimeTextExplainer on the recorded placeholder document ('t0 t1 ...'), label 0 = f."""
    explainer = LimeTextExplainer(kernel_width=kernel_width, bow=False, feature_selection="none",
                                  random_state=seed % 2**32)

    def classifier_fn(documents: list[str]) -> np.ndarray:
        keeps = np.zeros((len(documents), n), dtype=bool)
        for row, document in enumerate(documents):
            keeps[row, [int(i) for i in re.findall(r"\bt(\d+)\b", document)]] = True
        return f(keeps).reshape(-1, 1)

    explanation = explainer.explain_instance(" ".join(f"t{i}" for i in range(n)), classifier_fn, labels=(0,),
                                             num_features=n, num_samples=num_samples)
    weights = np.zeros(n)
    for feature, weight in explanation.local_exp[0]:
        weights[feature] = weight
    return weights


def test_shap_recomputed_with_shaps_partition_explainer(explained):
    suite, tokenizer, model = explained
    settings = suite["details"]["settings"]
    batch_size = settings["shap"]["batch_size"]
    assert settings["shap"]["special_tokens_in_clustering"] is False
    gaps, truncated, started = {}, [], time.perf_counter()
    for example in suite["details"]["examples"]:
        f = classifier_f(tokenizer, model, example, settings["masking"])
        ours = np.asarray(example["scores"]["shap"])
        if example["shap"]["estimator"] == "exact":
            assert len(ours) <= settings["shap"]["exact_max_units"]
            theirs = exact_shapley_values(f, len(ours))
        else:
            assert example["shap"]["estimator"] == "partition"
            theirs = shap_values(f, example["shap_tree_tokens"], max_evals=example["shap"]["max_evals"],
                                 batch_size=batch_size, seed=example["seeds"]["shap"])
        gaps[example["id"]] = float(np.abs(theirs - ours).max())
        if example["shap"].get("truncated"):
            truncated.append((example, f, ours))
    print(f"SHAP max |shap - suite| per example: {gaps} ({time.perf_counter() - started:.1f} s)")
    assert max(gaps.values()) < SHAP_TOLERANCE
    assert {e["shap"]["estimator"] for e in suite["details"]["examples"]} == {"exact", "partition"}
    assert truncated, "the control needs a truncated queue (max_evals_cap below what resolves every leaf)"

    example, f, ours = truncated[0]
    budget, seed = example["shap"]["max_evals"], example["seeds"]["shap"]
    # control 1: shap's default batch size (10) changes the traversal of a truncated queue
    other_batch = shap_values(f, example["shap_tree_tokens"], max_evals=budget, batch_size=10, seed=seed)
    # control 2: shap's Text-masker tree, with [CLS]/[SEP] leaves (always kept, so f ignores them)
    with_specials = [tokenizer.cls_token] + example["shap_tree_tokens"] + [tokenizer.sep_token]
    wide = shap_values(lambda keeps: f(np.asarray(keeps)[:, 1:-1]), with_specials, max_evals=budget,
                       batch_size=batch_size, seed=seed)[1:-1]
    controls = {"batch_size=10": float(np.abs(other_batch - ours).max()),
                "[CLS]/[SEP] in the tree": float(np.abs(wide - ours).max())}
    print(f"SHAP controls on {example['id']}: {controls}")
    assert min(controls.values()) > CONTROL_GAP


def test_lime_recomputed_with_lime(explained):
    suite, tokenizer, model = explained
    settings = suite["details"]["settings"]
    lime = settings["lime"]
    assert (lime["bow"], lime["feature_selection"]) == (False, "none")
    gaps, started = {}, time.perf_counter()
    for example in suite["details"]["examples"]:
        f = classifier_f(tokenizer, model, example, settings["masking"])
        ours = np.asarray(example["scores"]["lime"])
        theirs = lime_weights(f, len(ours), num_samples=lime["num_samples"], kernel_width=lime["kernel_width"],
                              seed=example["seeds"]["lime"])
        gaps[example["id"]] = float(np.abs(theirs - ours).max())
    print(f"LIME max |lime - suite| per example: {gaps} ({time.perf_counter() - started:.1f} s)")
    assert max(gaps.values()) < LIME_TOLERANCE

    example = suite["details"]["examples"][0]
    f, ours = classifier_f(tokenizer, model, example, settings["masking"]), np.asarray(example["scores"]["lime"])
    base = dict(num_samples=lime["num_samples"], kernel_width=lime["kernel_width"], seed=example["seeds"]["lime"])
    controls = {"seed + 1": lime_weights(f, len(ours), **{**base, "seed": base["seed"] + 1}),
                "num_samples - 50": lime_weights(f, len(ours), **{**base, "num_samples": base["num_samples"] - 50})}
    controls = {k: float(np.abs(v - ours).max()) for k, v in controls.items()}
    print(f"LIME controls on {example['id']}: {controls}")
    assert min(controls.values()) > CONTROL_GAP


def _lm_eval_cli(command: str, model_path: str, out: Path) -> list[dict]:
    """Run the recorded lm-eval command (its own CLI and HF backend) and return its logged samples."""
    argv = shlex.split(command.split("  #")[0])
    assert argv[:2] == ["lm_eval", "run"]
    argv = [sys.executable, "-m", "lm_eval"] + argv[1:] + ["--device", "cpu", "--batch_size", "8"]
    argv = [a.replace("MODEL_PATH", model_path) if a.startswith("pretrained=") else a for a in argv]
    argv[argv.index("OUT")] = str(out)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(argv, cwd=out.parent, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (samples,) = out.rglob(f"samples_{TASK}_*.jsonl")
    return sorted((json.loads(line) for line in samples.read_text().splitlines()), key=lambda s: s["doc_id"])


def test_lm_eval_task_recomputed_from_the_shipped_folder(results_path, tmp_path):
    results = json.loads(results_path.read_text())
    suite = _suite(results, "accuracy")
    details = suite["details"]["lm_eval"]
    assert Path(details["shipped_task_folder"]) == REPO / "audit" / "data" / "tasks"
    assert (results_path.parent / details["task_folders_relative"][0]).is_dir()
    outcomes = {o["metric"]: o for o in suite["outcomes"]}
    started = time.perf_counter()
    samples = _lm_eval_cli(details["recompute"][TASK], _model_path(results, CAUSAL), tmp_path / "lm_eval_out")
    seconds = time.perf_counter() - started
    ids = [s["doc"]["id"] for s in samples]
    assert ids == outcomes[f"lm_eval.{TASK}.acc"]["example_ids"]            # same documents, same order
    for metric in ("acc", "acc_norm"):
        name = f"lm_eval.{TASK}.{metric}"
        theirs = [float(s[metric]) for s in samples]
        assert theirs == outcomes[name]["values"]
        metric_value = next(m["value"] for m in suite["metrics"] if m["name"] == name and not m.get("group"))
        assert np.mean(theirs) == pytest.approx(metric_value, abs=1e-12)
    print(f"lm-eval CLI on the shipped folder: {len(ids)} documents agree ({seconds:.1f} s wall)")

    # control: another seed draws other documents (the shipped loader, as lm-eval calls it)
    from audit.data.tasks.loader import bbq_disambig_mc

    seed = details["task_seeds"][TASK]
    assert [d["id"] for d in bbq_disambig_mc(seed=seed)["test"]][:len(ids)] == ids
    assert [d["id"] for d in bbq_disambig_mc(seed=seed + 1)["test"]][:len(ids)] != ids
