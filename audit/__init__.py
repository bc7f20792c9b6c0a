"""rai-audit: a responsible-AI audit suite for transformer models.

Python API::

    from audit import run_audit, load_config, Runner
    run, files = run_audit("examples/default.yaml", "runs/default")
    print(run.status, files["html"])
"""

from audit.api import render, run_audit
from audit.config import load_config
from audit.results import AuditRun, Metric, SuiteResult
from audit.runner import Runner

__all__ = ["AuditRun", "Metric", "Runner", "SuiteResult", "load_config", "render", "run_audit"]
