"""The default audit under `executor: ray` on a local Ray cluster started by the run (sized by the
machine's CPUs: 2 here) equals the local executor's results.json, timings, ids and host fields apart
(issue #19's must-show), through bench/ray_equality.py.

It runs the whole default audit twice from empty result caches (about 9 + 8 minutes on 2 cores), so
it is marked slow (`-m "not slow"` leaves it out). The privacy suite's multi-run DP audit draws
secret seeds (os.urandom) unless seeded, so two runs of the stock config differ there by design; the
test seeds it, as a user comparing executors would.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNSEEDED, SEEDED = "audit: {runs: 1000}", "audit: {runs: 1000, seed: 0}"

pytestmark = pytest.mark.slow


def test_default_audit_on_ray_equals_local(tmp_path, prepared_dir):
    pytest.importorskip("ray")
    from bench import ray_equality

    text = (ROOT / "examples" / "default.yaml").read_text(encoding="utf-8")
    assert UNSEEDED in text, "the default config's DP audit block moved: update this test"
    seeded = ROOT / "examples" / f".default-seeded-{os.getpid()}.yaml"     # next to it: relative paths resolve
    seeded.write_text(text.replace(UNSEEDED, SEEDED), encoding="utf-8")
    report = tmp_path / "ray-equality.md"
    try:
        code = ray_equality.main([str(seeded), "--prepared", str(prepared_dir), "--work", str(tmp_path / "work"),
                                  "--report", str(report)])
    finally:
        seeded.unlink(missing_ok=True)
    text = report.read_text(encoding="utf-8")
    assert code == 0, text
    assert "Result: **equal**" in text and "executor kind `ray`" in text, text
    assert re.findall(r"^\| (local|ray) \| 0 \|", text, flags=re.M) == ["local", "ray"], text   # both exit 0
