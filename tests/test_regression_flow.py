"""`run --baseline`, `compare` and `runs` through the CLI, with a fake model whose accuracy depends on
its weights folder (so a "new model" regresses while the audit protocol stays the same)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import audit.run.runner as runner_module
from audit.models.adapters.base import Capability, ModelKind
from audit.cli.app import main
from audit.results import Metric, Outcomes, Status, UNIT_PROPORTION
from audit.stats import wilson_proportion
from audit.run.suite import Context, Suite, SuiteConfig
from reports.json_report import load_run

N = 400
QUALITY = {"good": 0.90, "same": 0.90, "bad": 0.75}


class ScoredAdapter:
    """Right on a fixed share of examples, decided by its folder name (good / same / bad)."""

    kind = ModelKind.CLASSIFIER
    capabilities = frozenset({Capability.CLASSIFY})
    device = "cpu"

    def __init__(self, name: str, path: str) -> None:
        self.name, self.fingerprint = name, f"fake-{path}"
        self.right = np.random.default_rng(0).random(N) < QUALITY[Path(path).name]
        self.path = path

    def model_info(self) -> dict:
        return {"path": self.path}


def scored_loader(name, spec, prepared_dir, cache_dir):
    return ScoredAdapter(name, spec.path)


class ScoredConfig(SuiteConfig):
    note: str = "v1"


class ScoredSuite(Suite):
    name, version, Config = "scored", "1", ScoredConfig

    def run(self, ctx: Context):
        result = self.new_result(ctx)
        right = ctx.adapter.right.astype(float)
        estimate = wilson_proportion(right)
        result.metrics.append(Metric.from_estimate("scored.accuracy", estimate, higher_is_better=True,
                                                   unit=UNIT_PROPORTION))
        result.outcomes.append(Outcomes(metric="scored.accuracy", example_ids=[f"e{i}" for i in range(N)],
                                        values=right.tolist()))
        return result


@pytest.fixture(autouse=True)
def _fakes(monkeypatch):
    from audit.run.registry import load_suite

    monkeypatch.setattr(runner_module, "load_suite",
                        lambda name, where="suite": ScoredSuite if name == "scored" else load_suite(name, where=where))
    monkeypatch.setattr(runner_module, "default_adapter_loader", scored_loader)
    monkeypatch.setenv("RAI_AUDIT_PDF", "0")
    monkeypatch.delenv("RAI_AUDIT_STORE", raising=False)


def _config(tmp_path: Path, weights: str, *, seed: int = 0, note: str = "v1", name: str = "audit.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"seed: {seed}\nmodels:\n  m: {{path: {tmp_path / weights}}}\n"
                    f"suites: [{{suite: scored, config: {{note: {note}}}}}]\n"
                    f"model_card: {{intended_uses: [testing]}}\n")
    return path


def _run(tmp_path, weights, out, *extra, **kw) -> int:
    return main(["run", str(_config(tmp_path, weights, **kw)), "--out", str(tmp_path / out), "--no-progress",
                 "--store", str(tmp_path / "history.sqlite"), *extra])


def test_run_with_baseline_gates_on_a_supported_regression(tmp_path, capsys):
    store = str(tmp_path / "history.sqlite")
    assert _run(tmp_path, "good", "night1") == 0
    first = load_run(tmp_path / "night1" / "results.json")
    assert main(["runs", "tag", first.run_id, "baseline", "--store", store]) == 0
    capsys.readouterr()

    # Same weights, another seed: compared, nothing flagged, exit 0.
    assert _run(tmp_path, "same", "night2", "--baseline", "baseline", seed=5) == 0
    second = load_run(tmp_path / "night2" / "results.json")
    assert second.comparison.status == Status.PASSED and second.comparison.baseline_run_id == first.run_id
    assert second.comparison.metrics[0].p_value == 1.0

    # Worse weights: a supported regression, exit 1, stored and rendered.
    assert _run(tmp_path, "bad", "night3", "--baseline", "baseline") == 1
    out = capsys.readouterr().out
    assert "REGRESSION scored/m scored.accuracy" in out
    third = load_run(tmp_path / "night3" / "results.json")
    [change] = third.comparison.metrics
    assert change.regression and change.p_adjusted < 1e-6 and third.status == Status.FAILED
    assert any(f.gate == "regression vs baseline" for f in third.findings)
    html = (tmp_path / "night3" / "report.html").read_text()
    assert 'id="comparison"' in html and "Compared with baseline" in html and "supported regression" in html
    assert 'id="history"' in html                                   # three stored runs: a trend chart
    junit = ET.parse(tmp_path / "night3" / "junit.xml").getroot()
    compare = junit.find("testsuite[@name='compare']")
    assert compare is not None and compare.get("failures") == "1" and compare.get("tests") == "1"
    assert junit.get("failures") == "1"                              # not counted twice
    summary = (tmp_path / "night3" / "summary.md").read_text()
    assert "❌ failed" in summary and "regression" in summary
    # the stored record knows about it too (history outlives the folder)
    assert main(["runs", "--store", store, "--status", "failed"]) == 0
    assert third.run_id in capsys.readouterr().out


def test_compare_cli_outputs_and_exit_codes(tmp_path, capsys):
    store = str(tmp_path / "history.sqlite")
    assert _run(tmp_path, "good", "a") == 0
    assert _run(tmp_path, "bad", "b") == 0
    a, b = (str(tmp_path / x) for x in ("a", "b"))
    assert main(["compare", a, b, "--store", store, "--junit", str(tmp_path / "c.xml"),
                 "--markdown", str(tmp_path / "c.md"), "--json", str(tmp_path / "c.json")]) == 1
    assert "REGRESSION" in capsys.readouterr().out
    assert ET.parse(tmp_path / "c.xml").getroot().get("failures") == "1"
    assert "Regression check" in (tmp_path / "c.md").read_text()
    assert json.loads((tmp_path / "c.json").read_text())["status"] == "failed"
    assert main(["compare", a, a, "--store", store]) == 0
    assert main(["compare", a, b, "--store", store, "--tolerance", "0.2"]) == 0      # within tolerance
    # moved folders: the store alone answers by run id
    run_b = load_run(tmp_path / "b" / "results.json").run_id
    (tmp_path / "b").rename(tmp_path / "moved")
    assert main(["compare", load_run(tmp_path / "a" / "results.json").run_id, run_b, "--store", store]) == 1


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    store = str(tmp_path / "history.sqlite")
    assert _run(tmp_path, "good", "a") == 0
    assert main(["run", str(_config(tmp_path, "good", note="v2", name="other.yaml")), "--out",
                 str(tmp_path / "b"), "--no-progress", "--store", store]) == 0
    capsys.readouterr()
    # different configs (audit protocol)
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--store", store]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "configs differ in suites[0].config.note" in err
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--store", store, "--force"]) == 0
    # an unknown tag: nothing is written
    assert _run(tmp_path, "good", "c", "--baseline", "nightly") == 2
    assert "no run or tag 'nightly'" in capsys.readouterr().err and not (tmp_path / "c").exists()
    # a baseline with another protocol is refused before the run starts
    assert main(["run", str(_config(tmp_path, "good", note="v3", name="third.yaml")), "--out", str(tmp_path / "d"),
                 "--no-progress", "--store", store, "--baseline", str(tmp_path / "a")]) == 2
    assert "configs differ" in capsys.readouterr().err and not (tmp_path / "d").exists()
    # a store that cannot be reached
    assert main(["run", str(_config(tmp_path, "good")), "--out", str(tmp_path / "e"), "--no-progress",
                 "--store", "postgresql+psycopg://nobody@127.0.0.1:9/none"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: run history postgresql") and err.count("\n") == 1 and not (tmp_path / "e").exists()
    assert main(["runs", "--store", "postgresql+psycopg://nobody@127.0.0.1:9/none"]) == 2
    # a variant of a model that does not exist
    bad = tmp_path / "variant.yaml"
    bad.write_text(f"models:\n  m: {{path: {tmp_path}}}\n  v: {{variant_of: missing, quantize: int8-dynamic}}\n"
                   f"suites: [{{suite: scored}}]\n")
    assert main(["run", str(bad), "--out", str(tmp_path / "f"), "--store", store]) == 2
    err = capsys.readouterr().err
    assert "models.v.variant_of names unknown model 'missing'" in err and not (tmp_path / "f").exists()


def test_different_datasets_are_refused_naming_the_dataset(tmp_path, capsys):
    from audit.io import atomic_write_text
    from audit.results import DatasetProvenance

    store = str(tmp_path / "history.sqlite")
    assert _run(tmp_path, "good", "a") == 0
    assert _run(tmp_path, "good", "b") == 0
    path = tmp_path / "b" / "results.json"
    run = load_run(path)
    run.provenance.datasets["/data/test.jsonl"] = DatasetProvenance(path="/data/test.jsonl", sha256="f" * 64)
    atomic_write_text(path, run.model_dump_json())
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "a"), str(path), "--store", store]) == 2
    assert "dataset test.jsonl (/data/test.jsonl) was used by the candidate only" in capsys.readouterr().err


def test_runs_subcommands(tmp_path, capsys):
    store = str(tmp_path / "history.sqlite")
    assert _run(tmp_path, "good", "a") == 0
    assert _run(tmp_path, "bad", "b") == 0
    first = load_run(tmp_path / "a" / "results.json").run_id
    capsys.readouterr()
    assert main(["runs", "--store", store, "--tag", first, "nightly"]) == 0     # the legacy form still works
    assert main(["runs", "show", "nightly", "--store", store]) == 0
    shown = capsys.readouterr().out
    assert f"run {first}" in shown and "scored.accuracy" in shown and "tags: nightly" in shown
    assert main(["runs", "history", "scored.accuracy", "--model", "m", "--store", store]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "[nightly]" in lines[0]
    assert main(["runs", "--store", store, "--model", "m", "--config", "audit.yaml"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert main(["runs", "untag", "nightly", "--store", store]) == 0
    assert main(["runs", "delete", first[:6], "--store", store]) == 0
    capsys.readouterr()
    assert main(["runs", "--store", store]) == 0
    assert first not in capsys.readouterr().out
    assert main(["runs", "show", "nightly", "--store", store]) == 2
