"""A hand-built run with everything the new report sections read: a comparison with a baseline,
compression variants, a stored history, a model card, and XSS payloads planted in dataset text,
a model output, a group, a dataset path and the model card (they must show as text only)."""

from __future__ import annotations

from audit.results import (Power, Verdict, AuditRun, Bar, BarChartView, Comparison, DatasetProvenance, DerivedModelProvenance, Estimate,
                           Example, ExampleListView, Finding, HistoryPoint, LineChartView, Metric, MetricChange,
                           MetricHistory, ModelProvenance, Provenance, Series, Severity, Span, Status, SuiteResult,
                           UNIT_PROPORTION, VariantReport)

PAYLOAD_DATA = '<img src=x onerror="window.__xss=1">'
PAYLOAD_OUTPUT = "<script>window.__xss=2</script>"
DATA_TEXT = f"the movie {PAYLOAD_DATA} was dull"
MODEL_OUTPUT = f"model said: {PAYLOAD_OUTPUT}"
ACCURACY = 0.8317
ACCURACY_SHOWN = "83.2%"
CROWS = 0.5736
CROWS_SHOWN = "57.4%"


def _accuracy_suite(model: str, value: float) -> SuiteResult:
    return SuiteResult(
        suite="accuracy", suite_version="1.0", model=model, duration_s=12.0,
        metrics=[Metric(name="accuracy.accuracy", value=value, ci_low=value - 0.022, ci_high=value + 0.021, n=1066,
                        ci_method="wilson", higher_is_better=True, unit=UNIT_PROPORTION),
                 Metric(name="accuracy.ece", value=0.041, ci_low=0.03, ci_high=0.06, n=1066, higher_is_better=False),
                 Metric(name="accuracy.recall", value=0.8, ci_low=0.77, ci_high=0.83, n=533, group={"label": PAYLOAD_DATA},
                        higher_is_better=True, unit=UNIT_PROPORTION)],
        findings=[Finding(severity=Severity.WARN, gate="accuracy.ece <= 0.03", metric="accuracy.ece",
                          message=f"{model}: accuracy.ece <= 0.03 violated (0.041 > 0.03, n=1066)",
                          verdict=Verdict.FAIL,
                          power=Power(n=1066, minimum_detectable_effect=0.0219, required_effect=0.011, power=0.38,
                                      method="normal test with the SE implied by the CI", can_test=False,
                                      note="cannot test accuracy.ece <= 0.03 to within 0.011"))],
        views=[BarChartView(title="Recall by label", unit=UNIT_PROPORTION,
                            bars=[Bar(label="negative", value=0.86, ci_low=0.83, ci_high=0.89, n=533),
                                  Bar(label=PAYLOAD_DATA, value=0.80, ci_low=0.77, ci_high=0.83, n=533)]),
               LineChartView(title="Reliability", x_label="confidence", y_label="accuracy",
                             series=[Series(name="model", x=[0.5, 0.7, 0.9], y=[0.55, 0.72, 0.93])]),
               ExampleListView(title="Most confident mistakes", examples=[
                   Example(id="ex-1", text=DATA_TEXT, spans=[Span(start=10, end=10 + len(PAYLOAD_DATA), label="planted")],
                           fields={"prediction": MODEL_OUTPUT})])],
        examples=[Example(id="ex-2", text=MODEL_OUTPUT)])


def _bias_suite() -> SuiteResult:
    return SuiteResult(suite="bias", suite_version="1.0", model="smollm2-135m", metrics=[
        Metric(name="crows_pairs.metric", value=CROWS, ci_low=0.548, ci_high=0.599, n=1508, ideal=0.5,
               unit=UNIT_PROPORTION, ci_method="wilson"),
        Metric(name="crows_pairs.metric", value=0.61, ci_low=0.55, ci_high=0.66, n=516, ideal=0.5,
               unit=UNIT_PROPORTION, group={"bias_type": "race-color"})],
        findings=[Finding(severity=Severity.INFO, metric="crows_pairs.metric",
                          message="CrowS-Pairs has known noisy pairs; read the number as indicative")])


def _change(metric: str, base: float, cand: float, *, regression: bool, p: float, model: str = "minilm-sentiment",
            baseline_model: str | None = None) -> MetricChange:
    diff = cand - base
    return MetricChange(suite="accuracy", model=model, baseline_model=baseline_model, metric=metric,
                        unit=UNIT_PROPORTION, direction="higher", baseline=base, candidate=cand, difference=diff,
                        ci_low=diff - 0.02, ci_high=diff + 0.02, worse_by=-diff, p_value=p, p_adjusted=min(1.0, 2 * p),
                        n_paired=1066, test="exact McNemar", regression=regression)


def sample_run() -> AuditRun:
    comparison = Comparison(
        baseline_run_id="base00000001", baseline_ref="baseline", baseline_started_at="2026-11-20T10:00:00+00:00",
        candidate_run_id="cand00000002", status=Status.FAILED,
        metrics=[_change("accuracy.accuracy", 0.87, ACCURACY, regression=True, p=1e-6),
                 _change("accuracy.recall", 0.80, 0.80, regression=False, p=1.0)])
    variant = VariantReport(
        name="minilm-int8", base="minilm-sentiment", recipe={"quantize": "int8-dynamic"},
        size_bytes=23_000_000, base_size_bytes=90_900_000,
        latency_ms=Estimate(value=1.9, ci_low=1.8, ci_high=2.1, n=3), base_latency_ms=Estimate(value=3.4, ci_low=3.3,
                                                                                              ci_high=3.6, n=3),
        latency_probe={"texts": 32, "repeats": 3, "threads": 1, "capability": "classify"},
        comparison=Comparison(kind="variant", baseline_run_id="cand00000002", baseline_ref="minilm-sentiment",
                              candidate_run_id="cand00000002",
                              metrics=[_change("accuracy.accuracy", ACCURACY, 0.829, regression=False, p=0.4,
                                               model="minilm-int8", baseline_model="minilm-sentiment")]))
    history = [MetricHistory(suite="accuracy", model="minilm-sentiment", metric="accuracy.accuracy",
                             unit=UNIT_PROPORTION, higher_is_better=True, points=[
                                 HistoryPoint(run_id=f"r{i}", started_at=f"2026-11-1{i}T10:00:00+00:00", value=v,
                                              ci_low=v - 0.02, ci_high=v + 0.02, n=1066, tags=tags)
                                 for i, (v, tags) in enumerate(((0.86, []), (0.87, ["baseline"]), (ACCURACY, [])))])]
    provenance = Provenance(
        models={"minilm-sentiment": ModelProvenance(path="/cache/prepared/minilm-sentiment", sha256="ab" * 32,
                                                    kind="classifier"),
                "minilm-int8": ModelProvenance(path="/cache/derived/minilm-int8-1234", sha256="cd" * 32,
                                               kind="classifier"),
                "smollm2-135m": ModelProvenance(path="/cache/prepared/smollm2-135m", sha256="ef" * 32,
                                                kind="causal_lm")},
        derived_models={"minilm-int8": DerivedModelProvenance(base="minilm-sentiment", path="/cache/derived/x",
                                                              sha256="cd" * 32, kind="classifier",
                                                              recipe={"quantize": "int8-dynamic"})},
        datasets={"/data/rt_polarity/test.jsonl": DatasetProvenance(path="/data/rt_polarity/test.jsonl",
                                                                    sha256="12" * 32, rows=1066),
                  "crows": DatasetProvenance(path=f"/builtin/crows_pairs/{PAYLOAD_DATA}.csv", sha256="34" * 32,
                                             rows=1508)},
        config_path="/work/examples/default.yaml", config_sha256="56" * 32, seed=0,
        config={"suites": [{"suite": "accuracy"}],
                "model_card": {"intended_uses": ["Sentiment of short English movie reviews"],
                               "out_of_scope_uses": [f"Decisions about people {PAYLOAD_OUTPUT}"],
                               "owners": "Audit team", "license": "Apache-2.0"}},
        git_revision="0123456789abcdef0123456789abcdef01234567-dirty", code_sha256="78" * 32,
        packages={"torch": "2.13.0"}, python="3.11.7", device="cpu: x86_64", started_at="2026-11-23T10:00:00+00:00",
        finished_at="2026-11-23T10:09:00+00:00",
        command="python run_audit.py run /work/examples/default.yaml --out runs/default")
    return AuditRun(run_id="cand00000002", status=Status.FAILED, provenance=provenance,
                    suites=[_accuracy_suite("minilm-sentiment", ACCURACY), _accuracy_suite("minilm-int8", 0.829),
                            _bias_suite()],
                    findings=[Finding(severity=Severity.FAIL, gate="regression vs baseline", metric="accuracy.accuracy",
                                      message="minilm-sentiment: accuracy.accuracy regressed",
                                      evidence={"source": "comparison"})],
                    comparison=comparison, variants=[variant], history=history)
