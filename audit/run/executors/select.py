"""The executor a config's `executor:` block asks for."""

from __future__ import annotations

from pathlib import Path

from audit.config.executor import ExecutorSpec
from audit.run.executors.local import Executor, LocalExecutor
from audit.run.executors.ray_executor import RayExecutor


def executor_for(spec: ExecutorSpec | None, config_path: Path | None = None) -> Executor:
    """LocalExecutor unless the config says `executor: {kind: ray, ...}` (Ray is imported only then)."""
    if spec is None or spec.kind == "local":
        return LocalExecutor()
    return RayExecutor(spec)
