"""The Ray executor on a local 2-CPU cluster: results equal the local executor's, a killed worker's
job is retried, an interrupted run resumes, and the executor block never changes the config hash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import audit.run.runner as runner_module
from audit.api import render
from audit.config.executor import config_sha256
from audit.config.schema import load_config
from audit.results import Status
from audit.results.equality import run_differences
from audit.run.runner import Runner
from tests.fakes import fake_fingerprinter, fake_loader, write, write_reviews
from tests.ray_fakes import load_test_suite

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    """A local Ray cluster with 2 CPUs, shared by this module's tests (starting one takes ~15 s)."""
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, namespace="rai-audit-tests",
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield ray
    ray.shutdown()


def _tiny_config(tmp_path: Path, clf: Path, causal: Path, executor: str) -> Path:
    write_reviews(tmp_path / "reviews.csv")
    return write(tmp_path / f"audit-{executor or 'local'}.yaml", f"""
seed: 3
models:
  clf: {{path: {clf}}}
  lm: {{path: {causal}}}
suites:
  - suite: accuracy
    models: [clf]
    config:
      datasets: [{{name: reviews, path: reviews.csv}}]
  - suite: bias
    config:
      crows_pairs: {{limit: 8}}
      winobias: {{limit: 4}}
      templates: {{limit: 2}}
      bbq: {{limit_per_category: 1}}
      counterfactual: {{limit: 6}}
      fairness: {{limit: 60, on_blank: drop}}
{executor}""")


@pytest.mark.slow       # each cluster test takes 25-50 s on 2 shared cores (plus ~15 s to start the cluster)
def test_ray_results_equal_local(cluster, tmp_path, tiny_classifier_dir, tiny_causal_dir, monkeypatch):
    local_cfg = _tiny_config(tmp_path, tiny_classifier_dir, tiny_causal_dir, "")
    ray_cfg = _tiny_config(tmp_path, tiny_classifier_dir, tiny_causal_dir, "executor: {kind: ray, address: auto}\n")
    out = {}
    for name, path in (("local", local_cfg), ("ray", ray_cfg)):
        monkeypatch.setenv("RAI_AUDIT_CACHE", str(tmp_path / f"cache-{name}"))     # same (empty) starting cache
        run = Runner(load_config(path), tmp_path / name, show_progress=False).run()
        render(run, tmp_path / name, ["json"])
        out[name] = json.loads((tmp_path / name / "results.json").read_text())
    assert out["ray"]["provenance"]["executor"]["kind"] == "ray"
    assert out["local"]["provenance"]["executor"] == {"kind": "local"}
    assert out["ray"]["provenance"]["config_sha256"] == out["local"]["provenance"]["config_sha256"]
    assert [s["status"] for s in out["local"]["suites"]] == ["passed"] * 3
    assert run_differences(out["ray"], out["local"]) == []
    workers = out["ray"]["provenance"]["executor"]["workers"]
    assert workers["00-accuracy-clf"]["pid"] == workers["01-bias-clf"]["pid"]      # one actor per model
    assert workers["01-bias-clf"]["pid"] != workers["01-bias-lm"]["pid"]


def _fake_config(tmp_path: Path, body: str) -> Path:
    return write(tmp_path / "audit.yaml", "models:\n  a: {path: x}\n  b: {path: y}\n" + body
                 + "executor: {kind: ray, address: auto}\n")


@pytest.mark.slow
def test_killed_worker_is_retried_and_run_completes(cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(runner_module, "load_suite", load_test_suite)
    marker = tmp_path / "killed"
    path = _fake_config(tmp_path, f"suites: [{{suite: fake}}, {{suite: kill_once, models: [b], "
                                  f"config: {{marker: '{marker}'}}}}]\n")
    run = Runner(load_config(path), tmp_path / "out", adapter_loader=fake_loader, fingerprinter=fake_fingerprinter,
                 show_progress=False).run()
    assert marker.exists()                                       # the first attempt did die
    assert run.status == Status.PASSED, [(s.suite, s.model, s.error) for s in run.suites]
    assert [(s.suite, s.model) for s in run.suites] == [("fake", "a"), ("fake", "b"), ("kill_once", "b")]
    assert int(marker.read_text()) != run.provenance.executor["workers"]["01-kill_once-b"]["pid"]


DRIVER = """
import sys
sys.path.insert(0, {root!r})
import audit.run.runner as r
from tests.fakes import fake_fingerprinter, fake_loader
from tests.ray_fakes import load_test_suite
from audit.config.schema import load_config
r.load_suite = load_test_suite
run = r.Runner(load_config(sys.argv[1]), sys.argv[2], adapter_loader=fake_loader, fingerprinter=fake_fingerprinter,
               show_progress=False).run()
print(run.status.value)
"""


@pytest.mark.slow
def test_interrupted_ray_run_resumes(cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(runner_module, "load_suite", load_test_suite)
    calls = tmp_path / "calls.txt"
    path = _fake_config(tmp_path, f"suites:\n  - {{suite: fake, models: [a], config: {{calls_file: '{calls}'}}}}\n"
                                  f"  - {{suite: fake, models: [b], config: {{calls_file: '{calls}', sleep_s: 20}}}}\n")
    script = write(tmp_path / "driver.py", DRIVER.format(root=str(ROOT)))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(script), str(path), str(out)], start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.time() + 240
    def started_b() -> bool:
        return calls.exists() and any(line.startswith("b ") for line in calls.read_text().splitlines())

    while time.time() < deadline and (len(list((out / ".state" / "jobs").glob("*.json"))) < 1 or not started_b()):
        time.sleep(0.2)         # job a finished and saved by the driver; job b is sleeping on its actor
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert [p.stem for p in (out / ".state" / "jobs").glob("*.json")] == ["00-fake-a"]
    run = Runner(load_config(path), out, adapter_loader=fake_loader, fingerprinter=fake_fingerprinter,
                 show_progress=False).run()
    assert run.status == Status.PASSED
    assert sorted(line.split()[0] for line in calls.read_text().splitlines()) == ["a", "b", "b"]   # a ran once


def test_executor_block_is_not_hashed():
    plain = b"seed: 1\nmodels:\n  a: {path: x}\nsuites: [{suite: fake}]\n"
    block = b"executor:\n  kind: ray\n  address: auto  # a cluster\n"
    assert config_sha256(plain + block) == config_sha256(plain) == config_sha256(block + plain)
    assert config_sha256(plain + b"executor: {kind: ray}\n") == config_sha256(plain)
    assert config_sha256(plain.replace(b"seed: 1", b"seed: 2")) != config_sha256(plain)
    # the blank line and comment after the block belong to what follows (found on the default config)
    spaced = b"seed: 1\n\n# models\nmodels:\n  a: {path: x}\n"
    inserted = spaced.replace(b"seed: 1\n", b"seed: 1\nexecutor:\n  kind: ray\n\n  num_cpus: 1\n")
    assert config_sha256(inserted) == config_sha256(spaced)
    assert config_sha256(spaced.replace(b"\n\n# models", b"\n# models")) != config_sha256(spaced)


def test_run_differences_ignore_only_timings_ids_and_hosts():
    """The comparison the Ray test and bench/ray_equality.py share: a changed timing, id, executor or
    config path is no difference; a changed metric value (the planted defect) is one."""
    def results(value: float, seconds: float, run_id: str, executor: dict, path: str) -> dict:
        return {"run_id": run_id, "provenance": {"config_path": path, "executor": executor, "command": f"run {path}",
                                                  "config": {"seed": 3, "executor": executor}},
                "suites": [{"suite": "accuracy", "duration_s": seconds,
                            "metrics": [{"name": "acc", "value": value}]}]}
    local = results(0.5, 1.0, "a", {"kind": "local"}, "/x/audit.yaml")
    ray = results(0.5, 9.0, "b", {"kind": "ray", "workers": {"j": {"pid": 7}}}, "/y/audit-ray.yaml")
    assert run_differences(local, ray) == []
    assert local["provenance"]["config"]["executor"] == {"kind": "local"}       # the inputs are not modified
    changed = results(0.75, 1.0, "a", {"kind": "local"}, "/x/audit.yaml")
    assert run_differences(local, changed) == [".suites[0].metrics[0].value: 0.5 != 0.75"]


def test_a_job_that_raised_on_its_worker_is_named_by_its_cause():
    """A RayTaskError carries the remote exception as `cause`: its last line names what went wrong
    (it used to be cut at 300 characters of the remote traceback, before the message)."""
    from audit.run.executors.ray_executor import failure_message

    class TaskError(Exception):
        def __init__(self, cause: BaseException) -> None:
            super().__init__("ray::ModelWorker.run() ...\n" + "  File ...\n" * 40)
            self.cause = cause

    cause = ImportError("Traceback (most recent call last):\n  File x\ncannot import name 'check_part_names'")
    assert failure_message(TaskError(cause)) == ("the job raised ImportError on its Ray worker: cannot import "
                                                 "name 'check_part_names'")
    died = failure_message(RuntimeError("worker\nexited unexpectedly"))
    assert died == "the Ray worker running this job died: RuntimeError: exited unexpectedly"


def test_actors_run_every_thread_pool_at_torch_threads():
    """Ray sets OMP_NUM_THREADS to an actor's num_cpus; the DP accountant then differs from a local run in
    the last bit (measured: 102.37275522953851 at 1 thread, ...853 at 2), so actors get torch_threads."""
    from audit.config.executor import ExecutorSpec
    from audit.run.executors.ray_executor import RayExecutor

    env = RayExecutor(ExecutorSpec(kind="ray", torch_threads=3))._thread_env()
    assert env == {"OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3"}
    mine = ExecutorSpec(kind="ray", torch_threads=3, runtime_env={"env_vars": {"OMP_NUM_THREADS": "8"}})
    assert RayExecutor(mine)._thread_env()["OMP_NUM_THREADS"] == "8"            # the user's choice is kept


def test_run_differences_ignore_measured_times_but_not_results_next_to_them():
    def suite(seconds: float, cell: float, budget_message: str) -> dict:
        return {"suites": [{"suite": "explainability",
                            "metrics": [{"name": "explain.seconds_per_explanation", "unit": "s", "value": seconds},
                                        {"name": "explain.gain", "unit": "probability", "value": 0.4}],
                            "views": [{"columns": ["method", "ms per probe", "hit rate"],
                                       "rows": [["shap", seconds * 1000, cell]]}],
                            "findings": [{"message": budget_message, "evidence": {"estimated_seconds": seconds}},
                                         {"message": "shap beats chance", "evidence": {"gain": 0.4}}]}]}
    fast, slow = suite(0.1, 0.9, "about 175 s"), suite(0.7, 0.9, "about 745 s")
    assert run_differences(fast, slow) == []
    assert run_differences(fast, suite(0.1, 0.8, "about 175 s")) == [".suites[0].views[0].rows[0][2]: 0.9 != 0.8"]
    moved = suite(0.1, 0.9, "about 175 s")
    moved["suites"][0]["findings"][1]["message"] = "shap does not beat chance"
    assert len(run_differences(fast, moved)) == 1
    under_budget = suite(0.1, 0.9, "about 175 s")          # the faster run raised no time-budget warning
    del under_budget["suites"][0]["findings"][0]
    assert run_differences(slow, under_budget) == []
    gated = suite(0.1, 0.9, "about 175 s")                  # a finding with a verdict is a result: compared
    gated["suites"][0]["findings"][0]["verdict"] = "fail"
    assert run_differences(gated, under_budget) != []
    assert run_differences(gated, suite(0.7, 0.9, "about 745 s")) != []     # verdict fail vs none


def test_run_differences_ignore_a_derived_models_folder_but_not_its_weights():
    """Each run of bench/ray_equality.py has its own cache folder, so a derived model's folder differs by
    construction; its sha256 (what the weights are) is still compared."""
    def derived(path: str, sha: str) -> dict:
        return {"provenance": {"derived_models": {"m/m-randomised-top": {"path": path, "sha256": sha,
                                                                         "recipe": {"randomise": {"seed": 1}}}}}}
    local, ray = derived("/a/cache/derived/m-top-1a7a", "ab"), derived("/b/cache/derived/m-top-1a7a", "ab")
    assert run_differences(local, ray) == []
    assert run_differences(local, derived("/a/cache/derived/m-top-1a7a", "cd")) == [
        ".provenance.derived_models.m/m-randomised-top.sha256: ab != cd"]


def test_equality_bench_sizes_actors_at_a_fresh_process_thread_count(monkeypatch):
    """bench.ray_equality's actors get the thread count the local run's fresh process gets, not this
    process's (a test or caller may have called torch.set_num_threads)."""
    import torch

    from bench import ray_equality

    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs 2 cores (torch caps its threads at the core count)")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert ray_equality.fresh_process_threads() == 2
        assert "torch_threads: 2}" in ray_equality.default_ray_block()
        assert ray_equality.fresh_process_threads({**os.environ, "OMP_NUM_THREADS": "1"}) == 1
    finally:
        torch.set_num_threads(before)
