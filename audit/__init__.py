"""rai-audit: a responsible-AI audit suite for transformer models.

Python API::

    from audit import run_audit, load_config, Runner
    run, files = run_audit("examples/default.yaml", "runs/default")
    print(run.status, files["html"])

The names are imported on first use (PEP 562), so `import audit.store` or `rai-audit runs` does not
pay for importing torch and transformers.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {"render": "audit.api", "run_audit": "audit.api", "load_config": "audit.config.schema",
            "AuditRun": "audit.results", "Metric": "audit.results", "SuiteResult": "audit.results",
            "Runner": "audit.run.runner"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'audit' has no attribute {name!r}")
