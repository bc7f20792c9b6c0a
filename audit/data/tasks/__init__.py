"""lm-eval tasks shipped with the accuracy suite, and writing them out for a run.

A shipped task is a YAML file next to this module plus a builder that makes its data from
the bundled datasets. At run time both are written into a run folder with the data file's
absolute path filled in (lm-eval resolves relative `data_files` against the working
directory, not the YAML).
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


@dataclass(frozen=True)
class ShippedTask:
    name: str
    yaml_file: str
    build: Callable[[DataResolver, int], list[dict]]


SHIPPED_TASKS: Mapping[str, ShippedTask] = MappingProxyType({
    "bbq_disambig_mc": ShippedTask("bbq_disambig_mc", "bbq_disambig_mc.yaml", build_bbq_disambig),
    "rt_polarity_mc": ShippedTask("rt_polarity_mc", "rt_polarity_mc.yaml", build_rt_polarity),
})


def materialize_task(task: ShippedTask, data: DataResolver, out_dir: Path, seed: int) -> Path:
    """Write TASK.jsonl and TASK.yaml (pointing at it by absolute path) into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    data_file = (out_dir / f"{task.name}.jsonl").resolve()
    docs = task.build(data, seed)
    data_file.write_text("".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in docs), encoding="utf-8")
    spec = yaml.safe_load((TASKS_DIR / task.yaml_file).read_text(encoding="utf-8"))
    spec["dataset_kwargs"]["data_files"]["test"] = str(data_file)
    # keep the `datasets` library's Arrow copy in the run folder, not in the user's HF cache
    spec["dataset_kwargs"]["cache_dir"] = str((out_dir / HF_CACHE_FOLDER).resolve())
    yaml_path = out_dir / f"{task.name}.yaml"
    yaml_path.write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return yaml_path
