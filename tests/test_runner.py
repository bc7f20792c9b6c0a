"""Runner mechanics: gates → exit codes, capability errors, atomic results, resume after a kill."""

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
from audit.config.schema import load_config
from audit.regression.status import EXIT_CODES
from audit.run.runner import Runner
from audit.results import SCHEMA_VERSION, Status
from tests.fakes import FakeAdapter, fake_fingerprinter, fake_loader, load_fake_or_real, write

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, body: str) -> Path:
    return write(tmp_path / "audit.yaml", "models:\n  a: {path: x}\n  b: {path: y}\n" + body)


@pytest.fixture(autouse=True)
def _fake_suite(monkeypatch):
    monkeypatch.setattr(runner_module, "load_suite", load_fake_or_real)


def _run(path: Path, out: Path, **kw):
    kw.setdefault("fingerprinter", fake_fingerprinter)
    return Runner(load_config(path), out, adapter_loader=fake_loader, show_progress=False, **kw).run()


def test_gates_pass_and_fail(tmp_path):
    path = _config(tmp_path, "suites: [{suite: fake, config: {value: 0.4}}]\n"
                             "gates: ['fake.value >= 0.3', {metric: fake.value, max: 0.35, model: b}]\n")
    run = _run(path, tmp_path / "out")
    assert run.status == Status.FAILED and EXIT_CODES[run.status] == 1
    by_model = {s.model: s for s in run.suites}
    assert by_model["a"].status == Status.PASSED
    assert by_model["b"].status == Status.FAILED
    assert any("violated" in f.message for f in by_model["b"].findings)


def test_gate_on_missing_metric_fails(tmp_path):
    run = _run(_config(tmp_path, "suites: [{suite: fake}]\ngates: ['fake.typo <= 1']\n"), tmp_path / "o")
    assert run.status == Status.FAILED
    assert "no such metric" in run.findings[0].message


def test_use_ci_gate_only_fails_when_whole_interval_is_out(tmp_path):
    body = "suites: [{suite: fake, config: {value: 0.65}}]\ngates: [{metric: fake.value, min: 0.7, use_ci: true}]\n"
    assert _run(_config(tmp_path, body), tmp_path / "o").status == Status.PASSED


def test_missing_capability_is_a_run_error(tmp_path):
    run = _run(_config(tmp_path, "suites: [{suite: fake, config: {needs: [loglikelihood]}}]\n"), tmp_path / "o")
    assert run.status == Status.ERROR and EXIT_CODES[run.status] == 2
    assert "lacks capability loglikelihood" in run.suites[0].error


def test_results_written_and_round_trip(tmp_path):
    run = _run(_config(tmp_path, "suites: [{suite: fake}]\n"), tmp_path / "out")
    files = render(run, tmp_path / "out")
    assert {"json", "html", "junit"} <= set(files)
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION == "2.1" and data["provenance"]["config_sha256"]
    assert data["provenance"]["models"]["a"]["path"] == "/fake/a"
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_resume_skips_finished_jobs(tmp_path):
    calls = tmp_path / "calls.txt"
    path = _config(tmp_path, f"suites: [{{suite: fake, config: {{calls_file: '{calls}'}}}}]\n")
    first = _run(path, tmp_path / "out")
    second = _run(path, tmp_path / "out")
    assert calls.read_text().count("\n") == 2          # the second run recomputed nothing
    assert first.run_id == second.run_id
    _run(path, tmp_path / "out", fresh=True)
    assert calls.read_text().count("\n") == 4


SCRIPT = """
import sys
sys.path.insert(0, {root!r})
import audit.run.runner as r
from tests.fakes import fake_fingerprinter, fake_loader, load_fake_or_real
from audit.config.schema import load_config
r.load_suite = load_fake_or_real
run = r.Runner(load_config(sys.argv[1]), sys.argv[2], adapter_loader=fake_loader, fingerprinter=fake_fingerprinter,
               show_progress=False).run()
print(run.status.value)
"""


def test_resume_after_kill_mid_run(tmp_path):
    calls = tmp_path / "calls.txt"
    path = _config(tmp_path, f"suites: [{{suite: fake, config: {{calls_file: '{calls}', sleep_s: 2.0}}}}]\n")
    script = write(tmp_path / "go.py", SCRIPT.format(root=str(ROOT)))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(script), str(path), str(out)], start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and (not calls.exists() or calls.read_text().count("\n") < 2):
        time.sleep(0.05)        # wait until job b has started (job a is finished by then)
    os.killpg(proc.pid, signal.SIGKILL)   # killed while the second job is sleeping
    proc.wait()
    assert len(list((out / ".state" / "jobs").glob("*.json"))) == 1
    done = subprocess.run([sys.executable, str(script), str(path), str(out)], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "passed", done.stderr
    models_run = [line.split()[0] for line in calls.read_text().splitlines()]
    assert models_run == ["a", "b", "b"]    # a ran once; b was interrupted and re-ran


def test_resume_reruns_jobs_whose_model_weights_changed(tmp_path):
    """A finished job is reused only while its model's content fingerprint is unchanged."""
    calls = tmp_path / "calls.txt"
    weights = {"a": "v1", "b": "v1"}

    class Versioned(FakeAdapter):
        def __init__(self, name):
            super().__init__(name)
            self.fingerprint = f"{name}-{weights[name]}"

    def loader(name, spec, prepared_dir, cache_dir):
        return Versioned(name)

    def fingerprint(name, spec, prepared_dir):
        return f"{name}-{weights[name]}"

    path = _config(tmp_path, f"suites: [{{suite: fake, config: {{calls_file: '{calls}'}}}}]\n")
    options = dict(adapter_loader=loader, fingerprinter=fingerprint, show_progress=False)
    Runner(load_config(path), tmp_path / "out", **options).run()
    weights["b"] = "v2"                       # b's weights change between the two runs
    run = Runner(load_config(path), tmp_path / "out", **options).run()
    assert [line.split()[0] for line in calls.read_text().splitlines()] == ["a", "b", "b"]
    assert run.provenance.models["b"].sha256 == "b-v2" and run.provenance.models["a"].sha256 == "a-v1"
