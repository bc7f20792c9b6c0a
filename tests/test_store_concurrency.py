"""Concurrent writers: 4 processes × 5 runs into one store, all 20 present and intact, on SQLite (WAL,
busy timeout, retries) and on a real PostgreSQL server started by the test."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from audit.results import AuditRun, Metric, Outcomes, Provenance, Status, SuiteResult
from audit.store import RunStore
from tests.pg_server import start_server

PROCESSES, RUNS_EACH, N_EXAMPLES = 4, 5, 2000


def expected_run(worker: int, index: int) -> AuditRun:
    """A deterministic run per (worker, index), so the reader can check every stored value."""
    rng = np.random.default_rng(1000 * worker + index)
    values = (rng.random(N_EXAMPLES) < 0.8).astype(float)
    suites = [SuiteResult(suite="accuracy", suite_version="1", model=f"model{worker}",
                          metrics=[Metric(name="accuracy.accuracy", value=float(values.mean()), n=N_EXAMPLES,
                                          higher_is_better=True)] +
                                  [Metric(name=f"extra.m{j}", value=float(rng.random()), n=5) for j in range(30)],
                          outcomes=[Outcomes(metric="accuracy.accuracy",
                                             example_ids=[f"w{worker}-{i}" for i in range(N_EXAMPLES)],
                                             values=values.tolist())])]
    return AuditRun(run_id=f"w{worker}r{index}", status=Status.PASSED, suites=suites,
                    provenance=Provenance(started_at=f"2026-01-01T00:{worker:02d}:{index:02d}+00:00",
                                          config={"suites": [{"suite": "accuracy"}]}))


def _writer(url: str, worker: int, barrier) -> None:
    barrier.wait()                                  # every process opens the (new) store at once
    store = RunStore(url)
    for index in range(RUNS_EACH):
        store.record(expected_run(worker, index), f"/runs/w{worker}/{index}/results.json")
        store.tag(f"w{worker}r{index}", f"latest-{worker}")
    store.close()


def _hammer(url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    workers = [ctx.Process(target=_writer, args=(url, w, barrier)) for w in range(PROCESSES)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=240)
    assert [p.exitcode for p in workers] == [0] * PROCESSES
    with RunStore(url) as store:
        assert store.count() == PROCESSES * RUNS_EACH
        for worker in range(PROCESSES):
            assert store.summary(f"latest-{worker}").run_id == f"w{worker}r{RUNS_EACH - 1}"
            for index in range(RUNS_EACH):
                stored, expected = store.load(f"w{worker}r{index}"), expected_run(worker, index)
                assert stored.suites[0].outcomes == expected.suites[0].outcomes
                assert [m.value for m in stored.suites[0].metrics] == [m.value for m in expected.suites[0].metrics]


def test_four_processes_write_one_sqlite_store(tmp_path):
    _hammer(f"sqlite:///{tmp_path / 'shared' / 'history.sqlite'}")


@pytest.fixture(scope="module")
def postgres_url():
    server, reason = start_server()
    if server is None:
        pytest.skip(f"no PostgreSQL server could be started here: {reason}")
    yield server.url
    server.stop()


def test_four_processes_write_one_postgresql_store(postgres_url):
    _hammer(postgres_url)


def test_postgresql_store_round_trip_and_history(postgres_url):
    with RunStore(postgres_url) as store:
        run = expected_run(9, 1)
        run.suites[0].metrics.append(Metric(name="nan.metric", value=float("nan"), n=0))
        store.record(run)
        assert store.load("w9r1").suites[0].outcomes == run.suites[0].outcomes
        assert [r.run_id for r in store.history("accuracy.accuracy", model="model9")] == ["w9r1"]
        store.delete("w9r1")
