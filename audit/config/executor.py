"""The `executor:` block (where jobs run), the `budget:` block (audit.plan), and the config hash
that leaves the executor block out.

Where a run executes changes no number, so the block is not part of the config hash used for resume
and comparability; it is recorded in provenance instead.
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EXECUTOR_KEY = "executor"
_TOP_LEVEL_KEY = re.compile(r"^[^\s#]")


class ExecutorSpec(BaseModel):
    """`executor: {kind: ray, address: auto}`; the default runs every job in this process."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "ray"] = "local"
    address: str | None = Field(None, description="ray: 'auto' (a running cluster), 'ray://HOST:10001', "
                                                  "or none to start a local one")
    num_cpus: float = Field(1.0, gt=0, description="ray: CPUs reserved by each model's actor")
    num_gpus: float | None = Field(None, ge=0, description="ray: GPUs per model actor; default 1 for a "
                                                          "model on device cuda*, else 0")
    torch_threads: int = Field(1, ge=1, description="ray: torch threads in each actor (fixed, so timings "
                                                   "and batch composition do not depend on the node); "
                                                   "bf16/fp16 CPU numbers depend on it, so to equal a "
                                                   "local run set it to that run's thread count")
    cache_url: str | None = Field(None, description="ray: a SQLAlchemy URL every node reaches for the result "
                                                   "cache; default: a cache service on the driver's node "
                                                   "owning the SQLite file")
    max_restarts: int = Field(2, ge=0, description="ray: restarts of a crashed model actor")
    max_task_retries: int = Field(2, ge=0, description="ray: retries of a job whose actor died (jobs are "
                                                      "idempotent)")
    runtime_env: dict | None = Field(None, description="ray: runtime_env for the actors (working_dir, env_vars)")


class BudgetSpec(BaseModel):
    """`budget: {max_seconds: 900, max_requests: 200000}`: a run whose plan exceeds it is refused."""

    model_config = ConfigDict(extra="forbid")

    max_seconds: float | None = Field(None, gt=0, description="estimated wall time of the whole run")
    max_requests: int | None = Field(None, gt=0, description="model requests not answered by the cache")
    on_exceed: Literal["refuse"] = "refuse"


def without_executor_block(text: bytes) -> bytes:
    """The YAML text with its top-level `executor:` block removed (the block and its indented lines)."""
    lines = text.decode("utf-8", errors="surrogateescape").splitlines(keepends=True)
    kept: list[str] = []
    pending: list[str] = []          # blank or comment lines met inside the block: kept if the block ends
    skipping = False
    for line in lines:
        if _TOP_LEVEL_KEY.match(line):
            skipping = line.split(":", 1)[0].strip() == EXECUTOR_KEY
            kept += [] if skipping else pending
            pending = []
        elif skipping and (not line.strip() or line.lstrip().startswith("#")):
            pending.append(line)
            continue
        elif skipping:
            pending = []
        if not skipping:
            kept.append(line)
    return "".join(kept + pending).encode("utf-8", errors="surrogateescape")


def config_sha256(text: bytes) -> str:
    """The config hash for resume and comparability: the file's sha256 without its executor block
    (a config without one hashes exactly as before)."""
    return hashlib.sha256(without_executor_block(text)).hexdigest()
