"""`results.json` (the typed, versioned AuditRun) and its JSON Schema; reading it back safely.

`results.json` is a public contract (DESIGN.md): CI jobs and dashboards read it, and
`rai-audit report` rebuilds every other output from it alone. Files of an older schema
(1.x) are migrated in memory (audit.results.migrate); a newer major version is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

from audit.io import atomic_write_text
from audit.results.load import load_run  # noqa: F401  (re-exported: reading results.json lives in audit.results)
from audit.results import AuditRun

RESULTS_FILENAME = "results.json"
SCHEMA_FILENAME = "results.schema.json"


def schema_text() -> str:
    """The JSON Schema of `AuditRun`, as written next to every results.json."""
    return json.dumps(AuditRun.model_json_schema(), indent=2, sort_keys=True) + "\n"


class JsonRenderer:
    """Writes `results.json` and `results.schema.json` atomically; returns the results path."""

    name = "json"
    filename = RESULTS_FILENAME

    def render(self, run: AuditRun, out_dir: Path) -> Path:
        out_dir = Path(out_dir)
        path = out_dir / self.filename
        atomic_write_text(path, run.model_dump_json(indent=2) + "\n")
        atomic_write_text(out_dir / SCHEMA_FILENAME, schema_text())
        return path
