"""Build tests/data/default_audit.results.json.gz from a default audit's results.json.

The per-example outcomes are dropped (they are most of the file and no renderer reads them); nothing
else changes. Run after `make audit` when the results schema changes:
    python -m tests.default_audit_fixture runs/default/results.json
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent / "data" / "default_audit.results.json.gz"


def build(source: Path, target: Path = FIXTURE) -> Path:
    data = json.loads(Path(source).read_text())
    for suite in data.get("suites", []):
        suite["outcomes"] = []
    target.write_bytes(gzip.compress(json.dumps(data, sort_keys=True).encode(), mtime=0))
    return target


def extract(folder: Path) -> Path:
    """The fixture as a results.json in `folder` (for load_run)."""
    path = Path(folder) / "results.json"
    path.write_bytes(gzip.decompress(FIXTURE.read_bytes()))
    return path


if __name__ == "__main__":
    print(build(Path(sys.argv[1])))
