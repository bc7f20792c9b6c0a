"""End to end through the CLI: tiny models for the mechanics, the real default models for one run."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.cli.app import main
from reports.json_report import load_run
from tests.fakes import write_reviews

PLANTED = "<script>alert('planted')</script>"


def _tiny_config(tmp_path: Path, clf: Path, causal: Path) -> Path:
    # The tiny random classifier says "positive" to everything, so the planted row (labelled
    # negative) is one of only ten mistakes, all of which the report lists as examples.
    write_reviews(tmp_path / "reviews.csv", 40, (f'r0,"{PLANTED} a dull film",negative',))
    config = tmp_path / "audit.yaml"
    config.write_text(f"""
seed: 1
models:
  clf: {{path: {clf}}}
  lm: {{path: {causal}}}
suites:
  - suite: accuracy
    models: [clf]
    config:
      datasets: [{{name: reviews, path: reviews.csv}}]
  - suite: accuracy
    models: [lm]
    config:
      lm_eval: {{tasks: [bbq_disambig_mc], limit: 6}}
  - suite: bias
    config:
      crows_pairs: {{limit: 12}}
      winobias: {{limit: 6}}
      templates: {{limit: 2}}
      bbq: {{limit_per_category: 2}}
      counterfactual: {{limit: 10}}
      fairness: {{limit: 120, on_blank: drop}}
gates:
  - {{metric: accuracy.accuracy, min: 0.0, model: clf}}
""")
    return config


def test_cli_run_writes_reports_escapes_data_and_reuses_cache(tmp_path, tiny_classifier_dir, tiny_causal_dir,
                                                             capsys):
    config = _tiny_config(tmp_path, tiny_classifier_dir, tiny_causal_dir)
    assert main([str(config), "--out", str(tmp_path / "run1"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "report.html" in out and "results.json" in out
    run = load_run(tmp_path / "run1" / "results.json")
    assert not [f.message for s in run.suites for f in s.findings if "does not declare" in f.message]
    assert {(s.suite, s.model) for s in run.suites} == {("accuracy", "clf"), ("accuracy", "lm"),
                                                        ("bias", "clf"), ("bias", "lm")}
    assert run.provenance.datasets and all(len(d.sha256) == 64 for d in run.provenance.datasets.values())
    assert run.provenance.models["clf"].sha256 and run.provenance.config_sha256
    assert any(PLANTED in e.text for e in run.suites[0].examples)
    html = (tmp_path / "run1" / "report.html").read_text()
    assert PLANTED not in html and "&lt;script&gt;" in html
    assert "<svg" in html and "http://" not in html and "https://" not in html
    assert (tmp_path / "run1" / "junit.xml").exists() and (tmp_path / "run1" / "results.schema.json").exists()
    first = {(s.suite, s.model): s.details["model_calls"] for s in run.suites}
    assert first[("accuracy", "clf")]["forward_passes"] > 0

    # A second run (new output folder, same cache): every model call is a cache hit.
    assert main([str(config), "--out", str(tmp_path / "run2"), "--no-progress"]) == 0
    again = load_run(tmp_path / "run2" / "results.json")
    for suite in again.suites:
        calls = suite.details["model_calls"]
        assert calls["forward_passes"] == 0, (suite.suite, suite.model, calls)
        assert calls["cache_hits"] > 0
    assert [m.value for m in again.suites[0].metrics] == [m.value for m in run.suites[0].metrics]

    # Paired comparison of the two runs: every outcome set pairs up in full, nothing regresses.
    from audit.regression.compare import compare_runs

    rows = compare_runs(run, again).metrics
    assert {r.metric for r in rows} >= {"accuracy.accuracy", "lm_eval.bbq_disambig_mc.acc", "crows_pairs.metric",
                                        "bbq.accuracy_ambig", "counterfactual.flip_rate"}
    for suite in run.suites:
        for outcome in suite.outcomes:
            assert len(set(outcome.example_ids)) == len(outcome.example_ids), outcome.metric
    assert not any(r.regression for r in rows)


def test_bad_dataset_is_exit_2_naming_the_file(tmp_path, tiny_classifier_dir, capsys):
    (tmp_path / "empty.csv").write_text("text,label\n")
    config = tmp_path / "a.yaml"
    config.write_text(f"models:\n  clf: {{path: {tiny_classifier_dir}}}\nsuites:\n  - suite: accuracy\n"
                      f"    config: {{datasets: [{{name: e, path: empty.csv}}]}}\n")
    assert main([str(config), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "empty.csv: the dataset is empty" in captured.err.splitlines()[0]      # the preflight, before any model
    assert not (tmp_path / "o" / "results.json").exists()


def test_missing_model_is_exit_2(tmp_path, capsys):
    config = tmp_path / "a.yaml"
    config.write_text("models:\n  m: {path: no/such/model}\nsuites:\n  - suite: accuracy\n"
                      "    config: {datasets: [{name: e, path: builtin:rt_polarity/rt-polarity.pos}]}\n")
    assert main([str(config), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert "models.m: model path" in first and "no/such/model" in first


def test_help_reads_well(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for word in ("prepare", "compare", "runs", "report", "exit codes"):
        assert word in text


@pytest.mark.slow
def test_real_default_models_small_run(tmp_path, prepared_dir, capsys, monkeypatch):
    """The default models, real data, every suite part, small limits (CrowS-Pairs subset); the
    compliance report is written next to report.html (HTML, Markdown and, with Chromium, PDF)."""
    monkeypatch.delenv("RAI_AUDIT_PDF", raising=False)
    config = tmp_path / "real.yaml"
    config.write_text(f"""
models:
  minilm-sentiment: {{path: {prepared_dir / 'minilm-sentiment'}, kind: classifier}}
  smollm2-135m: {{path: {prepared_dir / 'smollm2-135m'}, kind: causal_lm}}
suites:
  - suite: accuracy
    models: [minilm-sentiment]
    config:
      datasets: [{{name: rt_polarity_test, path: {prepared_dir / 'rt_polarity' / 'test.jsonl'}}}]
  - suite: accuracy
    models: [smollm2-135m]
    config: {{lm_eval: {{tasks: [rt_polarity_mc], limit: 20}}}}
  - suite: bias
    config:
      crows_pairs: {{limit: 40}}
      winobias: {{limit: 10}}
      templates: {{limit: 2}}
      bbq: {{limit_per_category: 3}}
      counterfactual: {{limit: 60}}
      fairness: {{limit: 600, on_blank: drop}}
gates:
  - {{metric: accuracy.accuracy, min: 0.70, model: minilm-sentiment}}
""")
    code = main([str(config), "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 0, capsys.readouterr()
    run = load_run(tmp_path / "out" / "results.json")
    names = {(s.suite, s.model): {m.name for m in s.metrics} for s in run.suites}
    assert "accuracy.accuracy" in names[("accuracy", "minilm-sentiment")]
    assert "lm_eval.rt_polarity_mc.acc" in names[("accuracy", "smollm2-135m")]
    assert {"crows_pairs.metric", "winobias.pro_preference", "bbq.bias_score_ambig"} <= names[("bias", "smollm2-135m")]
    assert {"counterfactual.flip_rate", "fairness.equalized_odds_difference"} <= names[("bias", "minilm-sentiment")]
    accuracy = run.suites[0].metric("accuracy.accuracy")
    assert accuracy.value >= 0.70 and accuracy.n == 1066 and accuracy.ci_low < accuracy.value < accuracy.ci_high
    check_compliance_outputs(tmp_path / "out", run)


def check_compliance_outputs(out: Path, run) -> None:
    """The compliance report of a real run: files next to report.html, the PDF's text carries the
    headline numbers, and both pages are clean in a real browser (where Chromium is installed)."""
    import shutil
    import subprocess

    from reports.formatting import format_value
    from tests.browser import Browser, unavailable

    assert (out / "compliance.html").is_file() and (out / "compliance.md").is_file() and (out / "summary.md").is_file()
    headlines = [format_value(m.value, m.unit) for s in run.suites for m in s.metrics[:1] if m.group is None]
    if shutil.which("chromium") and shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(out / "compliance.pdf"), "-"], capture_output=True, text=True,
                              check=True).stdout
        missing = [h for h in headlines if h not in text]
        assert not missing, missing
    if unavailable() is None:
        browser = Browser()
        try:
            for page, section in (("report.html", "provenance"), ("compliance.html", "mapping")):
                visit = browser.visit(out / page)
                assert not [e for e in visit.console if e.get("level") == "SEVERE"] and visit.requests == [visit.url]
                assert browser.js("return !!document.getElementById(arguments[0])", section)
        finally:
            browser.close()
