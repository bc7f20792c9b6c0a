"""Causal LMs: a shipped multiple-choice task (suites/accuracy/tasks) whose text is perturbed.

The prompt and the choices come from the task's own YAML (lm-eval's `doc_to_text`, `doc_to_choice`,
and its default target delimiter " "), so the clean condition is the task as the accuracy suite
scores it. The prediction is the choice with the highest summed log-probability (lm-eval's `acc`),
all (prompt, choice) pairs of a condition in one `loglikelihood` batch (the adapter packs the
shared prompt of the choices).
"""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
import numpy as np

from audit.models.adapters.base import CachePolicy, ModelAdapter
from audit.errors import DataError
from audit.run.suite import Context
from audit.data.tasks import SHIPPED_TASKS, load_task_spec
from suites.robustness.natural import Predict

TARGET_DELIMITER = " "
# the document field each task's perturbations apply to
PERTURBED_FIELD = {"rt_polarity_mc": "sentence"}


@dataclass(frozen=True)
class McTask:
    name: str
    ids: list[str]
    texts: list[str]                 # the perturbed field of each document
    labels: np.ndarray
    template: str                    # jinja doc_to_text
    field: str
    choices: list[str]               # continuation strings, delimiter included

    def prompt(self, text: str) -> str:
        return _template(self.template).render(**{self.field: text})


def _template(text: str) -> jinja2.Template:
    """As lm-eval renders doc_to_text (strict about missing fields, trailing newline kept)."""
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True).from_string(text)


def load_task(ctx: Context, task: str, limit: int | None) -> McTask:
    """The task's documents (seeded shuffle, first `limit`), prompt template and choices."""
    spec = load_task_spec(SHIPPED_TASKS[task])
    choices = spec["doc_to_choice"]
    if not isinstance(choices, list):
        raise DataError(f"robustness.multiple_choice: task {task!r} has per-document choices; not supported")
    docs = SHIPPED_TASKS[task].build(ctx.data, ctx.sub_seed("robustness", "multiple_choice", task))[:limit]
    field = PERTURBED_FIELD[task]
    for n, doc in enumerate(docs, start=1):
        if not str(doc.get(field, "")).strip():
            raise DataError(f"robustness.multiple_choice: task {task!r}: document {n} (id {doc.get('id')}) "
                            f"has an empty {field!r}")
    return McTask(name=task, ids=[str(d["id"]) for d in docs], texts=[str(d[field]) for d in docs],
                  labels=np.asarray([int(d["label"]) for d in docs], dtype=np.int64), template=spec["doc_to_text"],
                  field=field, choices=[TARGET_DELIMITER + str(c) for c in choices])


def mc_predictor(adapter: ModelAdapter, task: McTask) -> Predict:
    """texts -> argmax over the task's choices of log p(choice | prompt(text)), one batch per call."""
    template = _template(task.template)
    k = len(task.choices)

    def predict(texts: list[str]) -> np.ndarray:
        prompts = [template.render(**{task.field: text}) for text in texts]
        requests = [(prompt, choice) for prompt in prompts for choice in task.choices]
        results = adapter.loglikelihood(requests, cache=CachePolicy.PERSIST)
        scores = np.array([r.logprob for r in results], dtype=np.float64).reshape(len(texts), k)
        return scores.argmax(axis=1)

    return predict

