"""The must-show scenario on the real models (slow, about a minute on 2 cores):

- a baseline run of a small config (accuracy of minilm-sentiment on the real rt_polarity test split);
- the same config on a heavily pruned variant of the model: the regression is flagged with its
  Holm-adjusted p-value and the run exits 1;
- the same config on the unchanged model with another seed: nothing flagged, exit 0;
- an int8 dynamic-quantisation variant audited next to the original: size on disk, CPU latency and the
  accuracy change with a CI are reported; the compliance PDF carries the headline numbers.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from audit.cli.app import main
from audit.results import Status
from reports.formatting import format_value
from reports.json_report import load_run

pytestmark = pytest.mark.slow

SUITES = """suites:
  - suite: accuracy
    models: [minilm-sentiment]
    config:
      datasets: [{{name: rt_polarity_test, path: {data}}}]
"""


def _write(path: Path, models: str, prepared: Path, seed: int = 0, extra: str = "") -> Path:
    path.write_text(f"seed: {seed}\nmodels:\n{models}\n" + SUITES.format(data=prepared / "rt_polarity" / "test.jsonl")
                    + extra)
    return path


def test_compression_regression_must_show(tmp_path, prepared_dir, capsys, monkeypatch):
    monkeypatch.delenv("RAI_AUDIT_STORE", raising=False)
    monkeypatch.delenv("RAI_AUDIT_PDF", raising=False)
    model = prepared_dir / "minilm-sentiment"
    store = str(tmp_path / "history.sqlite")
    plain = f"  minilm-sentiment: {{path: {model}, kind: classifier}}"
    pruned = (f"  minilm-original: {{path: {model}, kind: classifier}}\n"
              f"  minilm-sentiment: {{variant_of: minilm-original, prune: {{amount: 0.7}}}}")

    def run(config: Path, out: str, *extra: str) -> int:
        return main(["run", str(config), "--out", str(tmp_path / out), "--no-progress", "--store", store, *extra])

    assert run(_write(tmp_path / "base.yaml", plain, prepared_dir), "baseline") == 0
    baseline = load_run(tmp_path / "baseline" / "results.json")
    assert main(["runs", "tag", baseline.run_id, "baseline", "--store", store]) == 0
    base_accuracy = baseline.suites[0].metric("accuracy.accuracy").value
    assert base_accuracy > 0.75

    # 1. heavy pruning: a supported regression, flagged after the Holm correction, exit 1
    assert run(_write(tmp_path / "pruned.yaml", pruned, prepared_dir), "pruned", "--baseline", "baseline") == 1
    out = capsys.readouterr().out
    assert "REGRESSION accuracy/minilm-sentiment accuracy.accuracy" in out
    candidate = load_run(tmp_path / "pruned" / "results.json")
    overall = next(c for c in candidate.comparison.metrics if c.group is None)
    assert overall.regression and overall.test == "exact McNemar (one-sided)" and overall.n_paired == 1066
    assert overall.difference < -0.05 and overall.ci_high < 0
    assert overall.p_adjusted is not None and overall.p_adjusted < 1e-6 and overall.p_adjusted >= overall.p_value
    assert candidate.status == Status.FAILED

    # 2. the unchanged model with another seed: compared, nothing flagged, exit 0
    assert run(_write(tmp_path / "seed1.yaml", plain, prepared_dir, seed=1), "seed1", "--baseline", "baseline") == 0
    again = load_run(tmp_path / "seed1" / "results.json")
    assert again.comparison.status == Status.PASSED and not again.comparison.regressions
    assert all(c.p_value == 1.0 for c in again.comparison.metrics)

    # 3. int8 dynamic quantisation next to the original: size, latency, accuracy change with a CI
    int8 = (f"{plain}\n  minilm-int8: {{variant_of: minilm-sentiment, quantize: int8-dynamic}}")
    config = tmp_path / "int8.yaml"
    config.write_text(f"seed: 0\nmodels:\n{int8}\nsuites:\n  - suite: accuracy\n    config:\n"
                      f"      datasets: [{{name: rt_polarity_test, path: {prepared_dir / 'rt_polarity' / 'test.jsonl'}}}]\n"
                      f"regression: {{latency: {{texts: 32, repeats: 3}}}}\n")
    assert run(config, "int8") in (0, 1)
    result = load_run(tmp_path / "int8" / "results.json")
    [variant] = result.variants
    assert variant.recipe == {"quantize": "int8-dynamic"}
    assert variant.size_bytes < 0.7 * variant.base_size_bytes         # Linear layers int8; embeddings stay float32
    assert variant.latency_ms.value > 0 and variant.base_latency_ms.value > 0
    change = next(c for c in variant.comparison.metrics if c.group is None and c.metric == "accuracy.accuracy")
    assert change.ci_low < change.difference < change.ci_high and abs(change.difference) < 0.05
    print(f"\nint8: {variant.size_bytes / 1e6:.1f} MB vs {variant.base_size_bytes / 1e6:.1f} MB, "
          f"{variant.latency_ms.value:.2f} vs {variant.base_latency_ms.value:.2f} ms/example, accuracy change "
          f"{change.difference:+.4f} [{change.ci_low:+.4f}, {change.ci_high:+.4f}] p_adj={change.p_adjusted:.3g}; "
          f"pruned-70 change {overall.difference:+.4f} p_adj={overall.p_adjusted:.3g}")
    html = (tmp_path / "int8" / "report.html").read_text()
    assert "Compression variants" in html and "minilm-int8" in html
    if shutil.which("chromium") and shutil.which("pdftotext"):
        pdf = tmp_path / "int8" / "compliance.pdf"
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        shown = format_value(result.suites[0].metric("accuracy.accuracy").value, "proportion")
        assert shown in text and "minilm-int8" in text
