"""Build the shipped lm-eval tasks' data files from the bundled datasets (nothing is downloaded).

Each builder returns every document, shuffled with the given seed, so lm-eval's `limit`
(which takes the first N documents) evaluates a seeded random subset. Every document has
a stable `id`, so per-sample outcomes pair up across runs with the same seed.
"""

from __future__ import annotations

import numpy as np

from audit.data.resolver import DataResolver, read_jsonl, read_text
from audit.errors import DataError

BBQ_CATEGORIES = ("Age", "Disability_status", "Nationality", "Physical_appearance", "Religion",
                  "Sexual_orientation")
BBQ_DISAMBIGUATED = "disambig"
RT_POLARITY_FILES = (("neg", 0), ("pos", 1))


def _shuffled(docs: list[dict], seed: int) -> list[dict]:
    order = np.random.default_rng(seed).permutation(len(docs))
    return [docs[i] for i in order]


def build_bbq_disambig(data: DataResolver, seed: int) -> list[dict]:
    """BBQ rows with a disambiguated context: context + question, choices ans0..2, gold `label`."""
    docs = []
    for category in BBQ_CATEGORIES:
        ref = f"builtin:bbq/{category}.jsonl.gz"
        path = data.resolve(ref, what="accuracy.lm_eval bbq_disambig_mc")
        rows = read_jsonl(path)
        data.record(path, rows=len(rows))
        for line_no, row in enumerate(rows, start=1):
            if row.get("context_condition") != BBQ_DISAMBIGUATED:
                continue
            try:
                docs.append({"id": f"{category}-{row['example_id']}", "category": category,
                             "context": row["context"], "question": row["question"],
                             "choices": [row["ans0"], row["ans1"], row["ans2"]], "label": int(row["label"])})
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{path}: line {line_no}: bad BBQ row ({exc!r})") from None
    return _shuffled(docs, seed)


def build_rt_polarity(data: DataResolver, seed: int) -> list[dict]:
    """Every rt-polarity sentence with label 0 (negative) / 1 (positive)."""
    docs = []
    for polarity, label in RT_POLARITY_FILES:
        path = data.resolve(f"builtin:rt_polarity/rt-polarity.{polarity}", what="accuracy.lm_eval rt_polarity_mc")
        lines = [line.strip() for line in read_text(path).splitlines()]
        data.record(path, rows=len(lines))
        docs.extend({"id": f"{polarity}-{i}", "sentence": text, "label": label}
                    for i, text in enumerate(lines) if text)
    return _shuffled(docs, seed)
