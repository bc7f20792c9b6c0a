"""Regression checks between runs use paired tests on shared example ids; history and tags work."""

from __future__ import annotations

import numpy as np

from audit.cli import main
from audit.compare import compare_runs
from audit.io import atomic_write_text
from audit.results import AuditRun, Metric, Outcomes, Provenance, Status, SuiteResult
from audit.store import RunStore


def _run(run_id: str, correct: np.ndarray, ids: list[str] | None = None) -> AuditRun:
    ids = ids or [f"ex{i}" for i in range(len(correct))]
    suite = SuiteResult(suite="accuracy", suite_version="1.0", model="m",
                        metrics=[Metric(name="accuracy.accuracy", value=float(correct.mean()), n=len(correct),
                                        higher_is_better=True)],
                        outcomes=[Outcomes(metric="accuracy.accuracy", example_ids=ids,
                                           values=correct.astype(float).tolist())])
    return AuditRun(run_id=run_id, status=Status.PASSED, suites=[suite],
                    provenance=Provenance(started_at=f"2026-01-0{run_id[-1]}"))


def test_supported_regression_is_flagged():
    rng = np.random.default_rng(0)
    base = rng.random(500) < 0.85
    worse = base.copy()
    worse[np.flatnonzero(base)[:40]] = False          # 40 examples flip from right to wrong
    [row] = compare_runs(_run("r1", base), _run("r2", worse))
    assert row.regression and row.test == "exact McNemar" and row.n_paired == 500
    assert row.difference == -40 / 500


def test_noise_is_not_a_regression_and_pairs_by_id():
    rng = np.random.default_rng(1)
    base = rng.random(300) < 0.8
    cand = base.copy()
    cand[[3, 10]] = ~cand[[3, 10]]                     # two flips either way: noise
    ids = [f"ex{i}" for i in range(300)]
    shuffled = np.random.default_rng(2).permutation(300)
    [row] = compare_runs(_run("r1", base, ids), _run("r2", cand[shuffled], [ids[i] for i in shuffled]))
    assert not row.regression and row.n_paired == 300
    assert row.baseline == base.mean() and row.candidate == cand.mean()


def test_cli_compare_runs_and_tags(tmp_path, capsys):
    base = np.array([True] * 90 + [False] * 10)
    worse = np.array([True] * 60 + [False] * 40)
    paths = []
    for run in (_run("r1", base), _run("r2", worse)):
        path = tmp_path / run.run_id / "results.json"
        atomic_write_text(path, run.model_dump_json())
        RunStore(tmp_path / "history.sqlite").record(run, path)
        paths.append(path)
    store = str(tmp_path / "history.sqlite")
    assert main(["runs", "--store", store, "--tag", "r1", "baseline"]) == 0
    assert main(["runs", "--store", store]) == 0
    assert "[baseline]" in capsys.readouterr().out
    assert main(["compare", "baseline", "r2", "--store", store]) == 1
    assert "REGRESSION accuracy/m accuracy.accuracy" in capsys.readouterr().out
    assert main(["compare", str(paths[0]), str(paths[0]), "--store", store]) == 0
