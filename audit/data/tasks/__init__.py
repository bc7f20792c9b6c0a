"""lm-eval tasks shipped with the accuracy suite, and writing them out for a run.

A shipped task is a YAML file next to this module plus a builder that makes its data from
the bundled datasets. The folder runs as it is with lm-eval (the YAMLs' `custom_dataset` hook,
loader.py, builds the documents; `--metadata '{"seed": S}'` picks the order). At run time the suite
writes both into the run folder instead, the data as a JSON file whose absolute path is filled in
(lm-eval resolves relative `data_files` against the working directory, not the YAML).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping

import yaml

from audit.data.resolver import DataResolver
from audit.data.tasks.builders import build_bbq_disambig, build_rt_polarity

TASKS_DIR = Path(__file__).resolve().parent
HF_CACHE_FOLDER = "hf_datasets_cache"


class FunctionRef(str):
    """A `!function module.name` value of a task YAML (lm-eval imports it; we only read the name)."""


class _TaskYamlLoader(yaml.SafeLoader):
    """safe_load plus lm-eval's `!function` tag (kept as a FunctionRef, never imported)."""


_TaskYamlLoader.add_constructor("!function", lambda loader, node: FunctionRef(loader.construct_scalar(node)))


@dataclass(frozen=True)
class ShippedTask:
    name: str
    yaml_file: str
    build: Callable[[DataResolver, int], list[dict]]


SHIPPED_TASKS: Mapping[str, ShippedTask] = MappingProxyType({
    "bbq_disambig_mc": ShippedTask("bbq_disambig_mc", "bbq_disambig_mc.yaml", build_bbq_disambig),
    "rt_polarity_mc": ShippedTask("rt_polarity_mc", "rt_polarity_mc.yaml", build_rt_polarity),
})


def load_task_spec(task: ShippedTask) -> dict:
    """The shipped YAML as a dict (its `custom_dataset` hook as a FunctionRef)."""
    return yaml.load((TASKS_DIR / task.yaml_file).read_text(encoding="utf-8"), Loader=_TaskYamlLoader)


def materialize_task(task: ShippedTask, data: DataResolver, out_dir: Path, seed: int) -> Path:
    """Write TASK.jsonl and TASK.yaml (pointing at it by absolute path) into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data_file = (out_dir / f"{task.name}.jsonl").resolve()
    docs = task.build(data, seed)
    data_file.write_text("".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in docs), encoding="utf-8")
    spec = {"task": task.name, "dataset_path": "json",
            # keep the `datasets` library's Arrow copy in the run folder, not in the user's HF cache
            "dataset_kwargs": {"data_files": {"test": str(data_file)},
                               "cache_dir": str((out_dir / HF_CACHE_FOLDER).resolve())},
            **{k: v for k, v in load_task_spec(task).items() if k not in ("task", "custom_dataset")}}
    spec["metadata"] = {**spec.get("metadata", {}), "seed": seed}
    yaml_path = out_dir / f"{task.name}.yaml"
    yaml_path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return yaml_path
