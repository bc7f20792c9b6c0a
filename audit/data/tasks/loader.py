"""lm-eval's `custom_dataset` hooks of the shipped task YAMLs: build the documents from the bundled data.

With these, the shipped folder runs as it is (`lm_eval run --tasks bbq_disambig_mc --include_path
audit/data/tasks --metadata '{"seed": S}'`): lm-eval imports this file by path (`!function loader.x`)
and calls the hook with the task's metadata, so the seed a run recorded in results.json
(details.lm_eval.task_seeds) regenerates the same documents in the same order. The `audit` package
must be importable (installed, or on PYTHONPATH).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets

from audit.data.resolver import DataResolver
from audit.data.tasks.builders import build_bbq_disambig, build_rt_polarity

DEFAULT_SEED = 0   # the shipped YAMLs' metadata seed; a run's own seed is in its results.json
SPLIT = "test"


def _dataset(docs: list[dict]) -> datasets.DatasetDict:
    return datasets.DatasetDict({SPLIT: datasets.Dataset.from_list(docs)})


def _resolver() -> DataResolver:
    """Only builtin: references are read (the bundled files); no config or prepared folder is needed."""
    return DataResolver(config_dir=Path.cwd(), prepared_dir=Path.cwd())


def bbq_disambig_mc(seed: int = DEFAULT_SEED, **_: Any) -> datasets.DatasetDict:
    """BBQ disambiguated documents, shuffled with `seed` (lm-eval passes the metadata and model args)."""
    return _dataset(build_bbq_disambig(_resolver(), int(seed)))


def rt_polarity_mc(seed: int = DEFAULT_SEED, **_: Any) -> datasets.DatasetDict:
    """rt-polarity sentences, shuffled with `seed`."""
    return _dataset(build_rt_polarity(_resolver(), int(seed)))
