"""Read the inputs to explain: rows of a dataset (classifiers) or shipped multiple-choice prompts (causal LMs).

Prompts are rendered from the accuracy suite's own task YAML (`doc_to_text`, `doc_to_choice`),
with lm-eval's default target delimiter (a space before each choice), so the prompt and the
continuation are exactly what the accuracy suite scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
import numpy as np

from audit.data.labelled import read_labelled
from audit.data.resolver import DataResolver
from audit.errors import DataError
from audit.data.tasks import SHIPPED_TASKS, load_task_spec
from suites.explainability.config import DatasetSource, ExamplesConfig

TARGET_DELIMITER = " "              # lm-eval's default between a prompt and a choice
WHERE = "explainability.examples"
# the document field a stability typo may touch (the template around it stays as it is)
EDITABLE_FIELD = {"rt_polarity_mc": "sentence", "bbq_disambig_mc": "context"}


@dataclass(frozen=True)
class RawExample:
    """One input as read: the text (a classifier input or an LM prompt) and what it is asked."""

    id: str
    text: str
    gold: int | str | None = None                 # dataset label (as in the file) / index of the right choice
    choices: tuple[str, ...] = ()                 # causal LM: continuations, delimiter included
    editable: tuple[int, int] | None = None       # characters a meaning-preserving typo may touch


def load_dataset(data: DataResolver, spec: DatasetSource) -> list[RawExample]:
    """The table under audit.data.labelled's contract (blank and repeated-id refusal, label_map applied
    to the gold labels; they are checked against the model's labels only where a target needs them)."""
    table = read_labelled(data, spec.path, spec, what=f"{WHERE}.dataset")
    golds = table.raw_labels if table.raw_labels is not None else [None] * len(table)
    out = []
    for row, example_id, text, gold in zip(table.rows, table.ids, table.texts, golds):
        if gold is not None and spec.label_map is not None:
            key = str(gold)
            if key not in spec.label_map:
                raise DataError(f"{WHERE}.dataset: {table.path}: row {row} (id {example_id}): label {gold!r} "
                                f"in column {spec.label_column!r} is not a label_map key ({sorted(spec.label_map)})")
            gold = spec.label_map[key]
        out.append(RawExample(id=example_id, text=text, gold=gold, editable=(0, len(text))))
    return out


def load_task(data: DataResolver, task: str, seed: int) -> list[RawExample]:
    """Every document of a shipped task as (prompt, choices, gold), in the task's seeded order."""
    shipped = SHIPPED_TASKS[task]
    spec = load_task_spec(shipped)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    template = env.from_string(spec["doc_to_text"])
    choice_spec = spec["doc_to_choice"]
    field = EDITABLE_FIELD[task]
    out = []
    for doc in shipped.build(data, seed):
        prompt = template.render(**doc)
        choices = choice_spec if isinstance(choice_spec, list) else doc[choice_spec]
        start = prompt.find(doc[field])
        out.append(RawExample(id=str(doc["id"]), text=prompt, gold=int(doc[spec["doc_to_target"]]),
                              choices=tuple(TARGET_DELIMITER + str(c) for c in choices),
                              editable=(start, start + len(doc[field])) if start >= 0 else None))
    return out


def load_examples(data: DataResolver, cfg: ExamplesConfig, seed: int) -> list[RawExample]:
    rows = load_dataset(data, cfg.dataset) if cfg.dataset is not None else load_task(data, cfg.task, seed)
    for row in rows:
        if not row.text.strip():
            raise DataError(f"{WHERE}: example {row.id!r}: the text is empty")
    return rows


def candidate_order(n_rows: int, select: str, seed: int) -> np.ndarray:
    """Row order to pick from: as stored ('first', 'misclassified_first') or a seeded permutation."""
    if select == "random":
        return np.random.default_rng(seed).permutation(n_rows)
    return np.arange(n_rows)


def misclassified_first(order: np.ndarray, wrong: np.ndarray, n: int) -> list[int]:
    """The first n rows of `order`, mistakes (wrong[i] True) before the rest, each in order."""
    mistakes = [int(i) for i in order if wrong[i]]
    rest = [int(i) for i in order if not wrong[i]]
    return (mistakes + rest)[:n]
