"""Export successful adversarial examples as JSONL: the data for adversarial training (the remedy
the attack papers and TextAttack's tutorials recommend: augment the training set with them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from audit.io import atomic_write_text
from suites.robustness.attacks.run import AttackRecord

EXPORT_FILE = "adversarial_examples.jsonl"


def export_row(record: AttackRecord, label_names: list[str]) -> dict:
    probs = record.adversarial_probs
    return {
        "id": record.example_id, "attack": record.attack, "original": record.original,
        "adversarial": record.adversarial, "label": label_names[record.label],
        "original_prediction": label_names[int(record.original_probs.argmax())],
        "adversarial_prediction": label_names[int(probs.argmax())] if probs is not None else None,
        "original_probs": [round(float(p), 6) for p in record.original_probs],
        "adversarial_probs": [round(float(p), 6) for p in probs] if probs is not None else None,
        "changes": [{"old": c.old, "new": c.new, "start": c.start, "end": c.end} for c in record.changes],
        "words_changed": round(record.words_changed, 6), "similarity": record.similarity,
        "valid": record.validity.valid if record.validity else None,
        "queries": record.queries, "encoder_requests": record.encoder_requests,
    }


def write_jsonl(path: Path, records: Iterable[AttackRecord], label_names: list[str]) -> int:
    """Write one line per successful (verified) adversarial example; returns how many."""
    rows = [export_row(r, label_names) for r in records if r.succeeded]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return len(rows)
