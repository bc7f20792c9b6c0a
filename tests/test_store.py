"""The run history: schema on open, what a record holds, tags, deletion, history queries, migration
of the first release's sqlite3 index, locked-database retries and unreachable stores."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time

import numpy as np
import pytest
from sqlalchemy import event, inspect

from audit.results import (AuditRun, Finding, Metric, Outcomes, Provenance, Severity, Status, SuiteResult,
                           UNIT_PROPORTION)
from audit.store import RunStore, StoreError, default_store
from audit.store import engine as engine_module
from audit.store import schema as S

CONFIG = {"seed": 0, "models": {"m": {"path": "x"}}, "suites": [{"suite": "accuracy", "config": {}}]}


def make_run(run_id: str, accuracy: float, day: int, *, config: dict | None = None, n: int = 200,
             status: Status = Status.PASSED) -> AuditRun:
    correct = (np.random.default_rng(day).random(n) < accuracy).astype(float)
    suite = SuiteResult(
        suite="accuracy", suite_version="1.0", model="m", duration_s=1.5,
        metrics=[Metric(name="accuracy.accuracy", value=float(correct.mean()), ci_low=0.1, ci_high=0.9, n=n,
                        ci_method="wilson", higher_is_better=True, unit=UNIT_PROPORTION),
                 Metric(name="accuracy.accuracy", value=0.5, n=10, group={"dataset": "a;b=c"}),
                 Metric(name="accuracy.undefined", value=float("nan"), n=0)],
        outcomes=[Outcomes(metric="accuracy.accuracy", example_ids=[f"id-{i}-é" for i in range(n)],
                           values=correct.tolist())],
        findings=[Finding(severity=Severity.WARN, gate="g", metric="accuracy.accuracy", message="warned",
                          evidence={"value": 0.5, "odd": float("nan")})])
    provenance = Provenance(config=config or CONFIG, config_path="/cfg/audit.yaml", config_sha256="c" * 64,
                            seed=day, started_at=f"2026-01-{day:02d}T10:00:00+00:00")
    return AuditRun(run_id=run_id, status=status, provenance=provenance, suites=[suite],
                    findings=[Finding(severity=Severity.INFO, message="run level")])


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / "history.sqlite") as opened:
        yield opened


def test_schema_is_created_versioned_and_sqlite_uses_wal(tmp_path, store):
    assert store.previous_version == 0
    names = set(inspect(store.engine).get_table_names())
    assert {t.name for t in S.metadata.sorted_tables} <= names
    db = sqlite3.connect(tmp_path / "history.sqlite")
    assert db.execute("SELECT value FROM rai_meta WHERE key='schema_version'").fetchone() == (str(S.SCHEMA_VERSION),)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert RunStore(tmp_path / "history.sqlite").previous_version == S.SCHEMA_VERSION   # opened again: kept


def test_a_record_holds_provenance_metrics_outcomes_and_findings(store):
    run = make_run("run1abcdef", 0.8, 1)
    store.record(run, "/somewhere/results.json")
    loaded = store.load("run1abcdef")
    assert loaded.provenance == run.provenance
    [suite] = loaded.suites
    original = run.suites[0]
    assert suite.outcomes == original.outcomes             # ids (unicode) and values exactly
    assert [m.model_dump() for m in suite.metrics[:2]] == [m.model_dump() for m in original.metrics[:2]]
    assert math.isnan(suite.metrics[2].value)               # NaN survives (stored as NULL)
    assert suite.metrics[1].group == {"dataset": "a;b=c"}   # the group key round-trips with escapes
    assert suite.findings[0].message == "warned" and math.isnan(suite.findings[0].evidence["odd"])
    assert loaded.findings[0].message == "run level"
    # recorded again (e.g. re-rendered): replaced, not duplicated
    store.record(run, "/elsewhere/results.json")
    assert store.count() == 1 and store.summary("run1").results_path == "/elsewhere/results.json"


def test_tags_prefixes_filters_and_delete(store):
    for i, acc in enumerate((0.7, 0.8, 0.9), start=1):
        store.record(make_run(f"abcd{i}xyz", acc, i, config={**CONFIG, "models": {f"m{i}": {}}}))
    assert store.tag("abcd1", "baseline") == ("abcd1xyz", None)               # a unique prefix
    assert store.tag("abcd2xyz", "baseline") == ("abcd2xyz", "abcd1xyz")      # a tag moves
    store.record(make_run("abcd2xyz", 0.85, 2))                               # re-recorded: keeps its tag
    assert store.summary("baseline").run_id == "abcd2xyz" and store.summary("baseline").tags == ("baseline",)
    assert [r.run_id for r in store.runs()] == ["abcd3xyz", "abcd2xyz", "abcd1xyz"]
    assert [r.run_id for r in store.runs(tag="baseline")] == ["abcd2xyz"]
    assert [r.run_id for r in store.runs(model="m")] == ["abcd3xyz", "abcd2xyz", "abcd1xyz"]
    assert [r.run_id for r in store.runs(config="audit.yaml", limit=1)] == ["abcd3xyz"]
    assert store.runs(model="nobody") == []
    with pytest.raises(StoreError, match=r"prefix of several run ids"):
        store.summary("abcd")
    with pytest.raises(StoreError, match=r"no run or tag 'abc' in "):
        store.summary("abc")                                                  # too short to be a prefix
    with pytest.raises(StoreError, match=r"no run or tag 'nightly' in .*\(tags: baseline\)"):
        store.load("nightly")
    assert store.delete("baseline") == "abcd2xyz"
    assert store.count() == 2 and store.runs(tag="baseline") == []
    with pytest.raises(StoreError):
        store.load("abcd2xyz")


def test_a_metric_history_is_one_query(store):
    for day, acc in ((3, 0.9), (1, 0.7), (2, 0.8)):
        store.record(make_run(f"run{day}", acc, day))
    store.tag("run2", "baseline")
    statements = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    rows = store.history("accuracy.accuracy", model="m")
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1
    assert [r.run_id for r in rows] == ["run1", "run2", "run3"]            # oldest first
    assert [r.tags for r in rows] == [[], ["baseline"], []]
    assert rows[0].value == pytest.approx(make_run("x", 0.7, 1).suites[0].metrics[0].value)
    assert [r.group for r in store.history("accuracy.accuracy", group="dataset=a\\;b\\=c")] == ["dataset=a\\;b\\=c"] * 3
    assert [r.run_id for r in store.history("accuracy.accuracy", limit=2)] == ["run2", "run3"]


def test_snapshot_follows_the_audit_protocol_and_skips_errored_runs(store):
    store.record(make_run("old1", 0.7, 1))
    store.record(make_run("bad2", 0.7, 2, status=Status.ERROR))
    store.record(make_run("other3", 0.7, 3, config={**CONFIG, "suites": [{"suite": "bias"}]}))
    current = make_run("now4", 0.9, 4, config={**CONFIG, "seed": 9})         # another seed: same protocol
    store.record(current)
    [history] = store.snapshot(current, [("accuracy", "m", "accuracy.accuracy")], limit=10)
    assert [p.run_id for p in history.points] == ["old1", "now4"]
    assert history.unit == UNIT_PROPORTION and history.higher_is_better is True
    assert store.snapshot(current, [("accuracy", "m", "accuracy.accuracy")], limit=1)[0].points[0].run_id == "now4"


def test_migrates_the_first_release_index(tmp_path):
    from audit.io import atomic_write_text

    path = tmp_path / "legacy.sqlite"
    kept = make_run("legacy1", 0.8, 1)
    atomic_write_text(tmp_path / "r1" / "results.json", kept.model_dump_json())
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE runs (run_id TEXT PRIMARY KEY, started_at TEXT, finished_at TEXT, status TEXT,"
                     " config_path TEXT, config_sha256 TEXT, results_path TEXT);"
                     "CREATE TABLE tags (tag TEXT PRIMARY KEY, run_id TEXT REFERENCES runs(run_id));")
    db.execute("INSERT INTO runs VALUES ('legacy1','2026-01-01',NULL,'passed','c.yaml','abc',?)",
               (str(tmp_path / "r1" / "results.json"),))
    db.execute("INSERT INTO runs VALUES ('legacy2','2026-01-02',NULL,'failed','c.yaml','abc','/gone/results.json')")
    db.execute("INSERT INTO tags VALUES ('baseline','legacy1')")
    db.commit()
    db.close()
    with RunStore(path) as migrated:
        assert migrated.previous_version == 1
        assert {(r.run_id, r.status, r.tags) for r in migrated.runs()} == {("legacy1", "passed", ("baseline",)),
                                                                             ("legacy2", "failed", ())}
        assert migrated.load("baseline").suites[0].outcomes == kept.suites[0].outcomes
        with pytest.raises(StoreError, match="migrated without its results"):
            migrated.load("legacy2")
    tables = set(inspect(RunStore(path).engine).get_table_names())
    assert "runs" not in tables and "tags" not in tables


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "h.sqlite"
    RunStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE rai_meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema version 99, newer than this rai-audit"):
        RunStore(path)


def test_a_locked_database_is_retried(tmp_path, monkeypatch):
    """With no busy timeout, a writer that finds the file locked backs off and retries."""
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_S", 0)
    path = tmp_path / "h.sqlite"
    store = RunStore(path)
    blocker = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, blocker.execute, args=("COMMIT",)).start()
    started = time.perf_counter()
    store.record(make_run("run1", 0.8, 1))
    assert time.perf_counter() - started >= 0.25 and store.count() == 1
    blocker.close()


def test_unreachable_and_invalid_stores_are_one_line_errors(tmp_path):
    with pytest.raises(StoreError, match=r"postgresql\+psycopg://u:\*\*\*@127\.0\.0\.1:9/db.*(refused|failed)"):
        RunStore("postgresql+psycopg://u:secret@127.0.0.1:9/db")
    with pytest.raises(StoreError, match="unsupported database"):
        RunStore("nosuchdb://host/x")
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create its folder"):
        RunStore(blocked / "sub" / "h.sqlite")


def test_default_store_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("RAI_AUDIT_STORE", raising=False)
    assert default_store(None, "hist.sqlite", tmp_path) == str(tmp_path / "hist.sqlite")
    assert default_store(None, "postgresql://h/db", tmp_path) == "postgresql://h/db"
    monkeypatch.setenv("RAI_AUDIT_STORE", "sqlite:////x.sqlite")
    assert default_store(None, "hist.sqlite", tmp_path) == "sqlite:////x.sqlite"
    assert default_store("cli.sqlite", "hist.sqlite", tmp_path) == "cli.sqlite"


def test_evidence_and_provenance_are_json(store, tmp_path):
    store.record(make_run("run1", 0.8, 1))
    db = sqlite3.connect(tmp_path / "history.sqlite")
    provenance, = db.execute("SELECT provenance FROM rai_runs").fetchone()
    assert json.loads(provenance)["config_sha256"] == "c" * 64
