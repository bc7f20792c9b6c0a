"""The DP probe study end to end on a tiny encoder through the CLI: the claim gate passes a correct
trainer and fails (exit 1) one that does not clip or adds no noise; a claim beyond the design reads
"cannot test"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_privacy_suite import sentences, write_rows

ROOT = Path(__file__).resolve().parents[1]


def probe_config(tmp_path: Path, model_dir: Path, defect: str = "none", epsilons=(1, 50)) -> Path:
    write_rows(tmp_path / "train.jsonl", sentences(160, 1), "tr")
    write_rows(tmp_path / "holdout.jsonl", sentences(40, 2), "ho")
    write_rows(tmp_path / "test.jsonl", sentences(40, 3), "te")
    dp = {"method": "probe", "base": str(model_dir), "train": {"path": "train.jsonl", "limit": 64},
          "test": {"path": "test.jsonl"}, "non_members": {"path": "holdout.jsonl"}, "epsilons": list(epsilons),
          "probe": {"steps": 30, "max_steps": 30, "batch_size": 16, "defect": defect,
                    "audit": {"runs": 200, "examples": 8, "dims": 4, "controls": ["no_clipping"], "seed": 0}}}
    config = {"seed": 0, "models": {"tiny": {"path": str(model_dir), "kind": "classifier"}},
              "suites": [{"suite": "privacy", "config": {
                  "membership": {"members": {"path": "train.jsonl", "limit": 30},
                                 "non_members": [{"path": "holdout.jsonl"}], "low_fpr": [0.1]},
                  "dp": dp}}]}
    path = tmp_path / f"audit-{defect}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_cli(path: Path, out: Path) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "run_audit.py", "run", str(path), "--out", str(out), "--no-progress",
                           "--store", str(out.parent / f"{out.name}.sqlite")],
                          capture_output=True, text=True, cwd=ROOT)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert (out / "results.json").is_file(), done.stderr[-2000:] + done.stdout[-2000:]
    return done.returncode, json.loads((out / "results.json").read_text(encoding="utf-8"))


def claims(results: dict) -> list[dict]:
    return [f for f in results["suites"][0]["findings"] if f.get("gate") == "claimed_epsilon"]


def test_probe_study_claim_gate_passes_a_correct_trainer(tiny_classifier_dir, tmp_path):
    code, good = run_cli(probe_config(tmp_path, tiny_classifier_dir), tmp_path / "good")
    assert code == 0
    verdicts = {f["message"].split(":")[0]: f["verdict"] for f in claims(good)}
    assert verdicts == {"dp ε=1": "pass", "dp ε=50": "inconclusive"}
    untestable = [f for f in claims(good) if f["verdict"] == "inconclusive"][0]
    assert "cannot test" in untestable["message"] and untestable["power"]["can_test"] is False
    metrics = good["suites"][0]["metrics"]
    assert {m["subject"] for m in metrics if m["name"] == "privacy.dp_accuracy"} == {
        "derived:privacy-non-private-control", "derived:privacy-dp-eps1", "derived:privacy-dp-eps50"}
    assert all(m["subject"] == "audited" for m in metrics if m["name"] == "privacy.mia_auc"
               and m["group"]["model"] == "audited")
    details = good["suites"][0]["details"]["dp"]
    assert details["release"].startswith("measurement only") and details["design_max_epsilon"] > 1
    control = [a for a in details["audits"] if a["trainer"] == "no_clipping"][0]
    assert control["epsilon"] > 1                     # the audit catches the broken control ...
    assert not any(f["severity"] == "fail" for f in good["suites"][0]["findings"])   # ... without failing the run



@pytest.mark.parametrize("defect", ["no_clipping", "no_noise"])
def test_probe_study_claim_gate_fails_a_broken_trainer_with_exit_1(tiny_classifier_dir, tmp_path, defect):
    code, bad = run_cli(probe_config(tmp_path, tiny_classifier_dir, defect=defect), tmp_path / "bad")
    assert code == 1
    failed = [f for f in claims(bad) if f["verdict"] == "fail"]
    assert failed and failed[0]["severity"] == "fail" and "falsified" in failed[0]["message"]
