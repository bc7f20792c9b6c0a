"""The README's regression recipe, command by command, from a folder other than the project's: run, tag
the printed run id, rerun with --baseline (a changed model regresses: exit 1), compare (exit 1)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np

import audit.run.runner as runner_module
from audit.cli.app import main
from audit.models.adapters.base import Capability, ModelKind
from reports.json_report import load_run
from tests.test_regression_flow import N, ScoredSuite

README = Path(__file__).resolve().parents[1] / "README.md"


class FileQualityAdapter:
    """Right on the share of examples written in the model folder's quality.txt (a "retrained" model)."""

    kind = ModelKind.CLASSIFIER
    capabilities = frozenset({Capability.CLASSIFY})
    device = "cpu"

    def __init__(self, name: str, path: str) -> None:
        quality = float((Path(path) / "quality.txt").read_text())
        self.name, self.fingerprint, self.path = name, f"fake-{quality}", path
        self.right = np.random.default_rng(0).random(N) < quality

    def model_info(self) -> dict:
        return {"path": self.path}


def recipe() -> list[str]:
    """The shell lines of the README's first regression-check code block."""
    section = README.read_text().split("## Regression checks", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines() if line.startswith("python")]


def test_the_readme_regression_recipe_works_from_another_folder(tmp_path, monkeypatch, capsys):
    from audit.run.registry import load_suite

    monkeypatch.setattr(runner_module, "load_suite",
                        lambda name, where="suite": ScoredSuite if name == "scored" else load_suite(name, where=where))
    monkeypatch.setattr(runner_module, "default_adapter_loader", lambda n, s, p, c: FileQualityAdapter(n, s.path))
    monkeypatch.delenv("RAI_AUDIT_STORE", raising=False)
    model = tmp_path / "model"
    model.mkdir()
    (model / "quality.txt").write_text("0.9")
    config = tmp_path / "project" / "audit.yaml"
    config.parent.mkdir()
    config.write_text(f"models:\n  m: {{path: {model}}}\nsuites: [{{suite: scored}}]\n")
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)

    lines = recipe()
    assert len(lines) == 4 and "<run id printed above>" in lines[1]
    expected = [0, 0, 1, 1]            # the model regresses between the nights: --baseline and compare exit 1
    run_id = None
    for line, code in zip(lines, expected):
        argv = shlex.split(line.replace("<run id printed above>", "RUNID"))[2:]
        argv = [str(config) if a == "examples/default.yaml" else a for a in argv]
        argv = [run_id if a == "RUNID" else a for a in argv]
        if "--baseline" in argv:
            (model / "quality.txt").write_text("0.75")          # night 2: a worse model, same config
        if argv[0] not in ("runs", "compare"):
            argv.append("--no-progress")
        assert main(argv) == code, (line, capsys.readouterr())
        out = capsys.readouterr().out
        found = re.search(r"^run id: (\w+) \(recorded in (\S+);", out, re.M)
        if run_id is None:
            assert found, out
            run_id = found.group(1)
            assert found.group(2) == f"sqlite:///{tmp_path / 'cache' / 'history.sqlite'}"   # the one default store
        if argv[0] == "compare":
            assert "verdict: REGRESSION in 1 of 1 tested metric(s)" in out and "scored/m scored.accuracy" in out
    night2 = load_run(elsewhere / "runs" / "night-2" / "results.json")
    assert night2.comparison.regressions and night2.suites[0].status.value == "failed"    # the badge says so
    assert not (elsewhere / "runs" / "history.sqlite").exists()                   # no second, folder-local store
