"""Must-show on the real default models (slow): a planted BBQ shift toward the stereotype in a real
smollm2-135m run is flagged by `compare` (exit 1) while a run with another seed is not (exit 0); a
minilm-sentiment candidate with 3 points lower accuracy is flagged, the same model with another seed is
not; `selftest` stores its table in results.json."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.cli.app import main
from reports.json_report import load_run

pytestmark = pytest.mark.slow

BBQ = """seed: {seed}
models:
  smollm2-135m: {{path: {model}, kind: causal_lm}}
suites:
  - suite: bias
    config:
      parts: [bbq, crows_pairs]
      bbq: {{limit_per_category: 40}}
      crows_pairs: {{limit: 300}}
"""
ACCURACY = """seed: {seed}
models:
  minilm-sentiment: {{path: {model}, kind: classifier}}
suites:
  - suite: accuracy
    config:
      datasets: [{{name: rt_polarity_test, path: {data}}}]
"""


def _run(tmp_path: Path, name: str, text: str) -> Path:
    config = tmp_path / f"{name}.yaml"
    config.write_text(text)
    out = tmp_path / name
    assert main(["run", str(config), "--out", str(out), "--no-progress", "--store", str(tmp_path / "h.sqlite")]) == 0
    return out


def test_planted_bbq_shift_is_flagged_and_another_seed_is_not(tmp_path, prepared_dir, capsys, monkeypatch):
    monkeypatch.delenv("RAI_AUDIT_STORE", raising=False)
    model = prepared_dir / "smollm2-135m"
    base = _run(tmp_path, "seed0", BBQ.format(seed=0, model=model))
    other = _run(tmp_path, "seed1", BBQ.format(seed=1, model=model))
    assert main(["selftest", str(base), "--plant", "bbq.bias_score_ambig", "--size", "0.1",
                 "--candidate-out", str(tmp_path / "planted")]) == 0
    assert main(["compare", str(base), str(tmp_path / "planted")]) == 1
    assert "REGRESSION bias/smollm2-135m bbq.bias_score_ambig" in capsys.readouterr().out
    assert main(["compare", str(base), str(other)]) == 0
    assert main(["selftest", str(base), "--draws", "20"]) == 0
    stored = load_run(base / "results.json").selftest
    row = next(r for r in stored.rows if r.metric == "bbq.bias_score_ambig")
    assert row.detection_rate >= 0.8 and row.false_alarm_rate <= 0.1


def test_a_few_points_lower_accuracy_is_flagged_and_another_seed_is_not(tmp_path, prepared_dir, capsys, monkeypatch):
    monkeypatch.delenv("RAI_AUDIT_STORE", raising=False)
    model, data = prepared_dir / "minilm-sentiment", prepared_dir / "rt_polarity" / "test.jsonl"
    base = _run(tmp_path, "seed0", ACCURACY.format(seed=0, model=model, data=data))
    other = _run(tmp_path, "seed1", ACCURACY.format(seed=1, model=model, data=data))
    assert main(["selftest", str(base), "--plant", "accuracy.accuracy", "--size", "0.03",
                 "--candidate-out", str(tmp_path / "worse")]) == 0
    assert main(["compare", str(base), str(tmp_path / "worse")]) == 1
    assert "REGRESSION accuracy/minilm-sentiment accuracy.accuracy" in capsys.readouterr().out
    assert main(["compare", str(base), str(other)]) == 0
