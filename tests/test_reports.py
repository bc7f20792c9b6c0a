"""Renderers (JSON, HTML, JUnit) on a hand-built AuditRun: round trips, escaping, counts."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from audit.errors import DataError
from audit.results import (
    AuditRun,
    Bar,
    BarChartView,
    Condition,
    DatasetProvenance,
    Example,
    ExampleListView,
    Finding,
    LineChartView,
    MatrixHeatmapView,
    Metric,
    ModelProvenance,
    Provenance,
    Series,
    Severity,
    Span,
    Status,
    SuiteResult,
    TableView,
    TokenHeatmapView,
    TokenScores,
    UNIT_PROPORTION,
)
from reports.base import Renderer
from reports.html import HtmlRenderer, render_html
from reports.json_report import SCHEMA_FILENAME, JsonRenderer, load_run
from reports.junit import JUnitRenderer, junit_xml

XSS = "<script>alert(1)</script>"
ATTR_BREAK = '" onmouseover="alert(2)'
EXAMPLE_TEXT = f"He said {XSS} & left."


def _suite_bias() -> SuiteResult:
    return SuiteResult(
        suite="bias",
        suite_version="1.0",
        model=XSS,
        status=Status.FAILED,
        duration_s=75.2,
        metrics=[
            Metric(name="crows_pairs.metric", value=0.573, ci_low=0.548, ci_high=0.599, n=1508,
                   unit=UNIT_PROPORTION, ideal=0.5, ci_method="wilson"),
            Metric(name="crows_pairs.metric", group={"bias_type": "race-color"}, value=0.601, ci_low=0.550,
                   ci_high=0.652, n=516, unit=UNIT_PROPORTION, ideal=0.5),
            Metric(name="crows_pairs.metric", group={"bias_type": "gender"}, value=0.520, ci_low=0.460,
                   ci_high=0.580, n=262, unit=UNIT_PROPORTION, ideal=0.5),
            Metric(name="accuracy.accuracy", value=0.841, ci_low=0.819, ci_high=0.862, n=1066, higher_is_better=True,
                   unit=UNIT_PROPORTION),
            Metric(name="accuracy.ece", value=0.05, ci_low=0.03, ci_high=0.07, n=1066, higher_is_better=False),
            Metric(name="robustness.accuracy", value=0.702, ci_low=0.674, ci_high=0.728, n=1066,
                   higher_is_better=True, unit=UNIT_PROPORTION, condition=Condition.PERTURBED,
                   group={"perturbation": "typo", "dataset": "rt"}),
        ],
        findings=[
            Finding(severity=Severity.WARN, gate="accuracy_min", message="accuracy close to the floor"),
            Finding(severity=Severity.FAIL, gate="crows_max", message=f"CrowS 57.3 > 55 {XSS}",
                    metric="crows_pairs.metric", evidence={"value": 57.3, "threshold": 55}),
            Finding(severity=Severity.FAIL, message="a fail without a gate \x1b[31m\x00"),
            Finding(severity=Severity.INFO, message="informational only"),
        ],
        views=[
            BarChartView(title="CrowS-Pairs by bias type", unit=UNIT_PROPORTION, reference=0.5, bars=[
                Bar(label=XSS, value=0.601, ci_low=0.550, ci_high=0.652, n=516),
                Bar(label="gender", value=0.520, ci_low=0.460, ci_high=0.580, n=262),
            ]),
            TableView(title="Worst pairs", columns=["sent_more", "score"], rows=[[XSS, 0.51], ["plain", 3]]),
            LineChartView(title="ROC", x_label="FPR", y_label="TPR", series=[
                Series(name=XSS, x=[0.0, 0.1, 0.5, 1.0], y=[0.0, 0.3, 0.8, 1.0]),
                Series(name="chance", x=[0.0, 1.0], y=[0.0, 1.0]),
            ]),
            TokenHeatmapView(title="Attributions", rows=[
                TokenScores(tokens=["the", XSS, "movie"], scores=[0.1, -0.8, 0.4], label="review 1"),
            ]),
            MatrixHeatmapView(title="Attention", x_labels=["[CLS]", XSS], y_labels=["[CLS]", XSS],
                              values=[[0.7, 0.3], [0.2, 0.8]]),
            ExampleListView(title="Swapped examples", examples=[
                Example(id="ex-1", text=EXAMPLE_TEXT, spans=[Span(start=8, end=8 + len(XSS), label=ATTR_BREAK)],
                        fields={"score": 0.25, "note": XSS}, tags=["swap"]),
            ]),
        ],
        examples=[Example(id="ex-2", text=XSS)],
        details={"probe_count": 12, "note": XSS},
    )


def _suite_error() -> SuiteResult:
    return SuiteResult(suite="privacy", suite_version="0.1", model="minilm", status=Status.ERROR,
                       duration_s=1.5, error="CapabilityError: needs train")


@pytest.fixture
def run() -> AuditRun:
    provenance = Provenance(
        models={XSS: ModelProvenance(path="/models/x", sha256="ab" * 32, kind="masked_lm"),
                "minilm": ModelProvenance(path="/models/minilm", sha256="cd" * 32, kind="encoder")},
        datasets={"crows_pairs": DatasetProvenance(path="builtin:crows_pairs", sha256="ef" * 32, rows=1508)},
        config_path="audit.yaml", config_sha256="12" * 32, config={"suites": {"bias": {"note": XSS}}},
        packages={"torch": "2.13.0", "transformers": "5.23"}, git_revision="0123abc", python="3.11.9",
        platform="Linux", device="cpu", seed=7, started_at="2025-05-01T10:00:00Z", finished_at="2025-05-01T10:02:00Z",
    )
    return AuditRun(run_id="run-42", status=Status.FAILED, provenance=provenance,
                    suites=[_suite_bias(), _suite_error()],
                    findings=[Finding(severity=Severity.WARN, gate="run_budget", message="slow run")])


# ---------------------------------------------------------------- JSON


def test_results_json_round_trips(run, tmp_path):
    path = JsonRenderer().render(run, tmp_path)
    assert path == tmp_path / "results.json"
    assert AuditRun.model_validate_json(path.read_text()) == run
    assert load_run(path) == run


def _check(schema: dict, value: object, root: dict, where: str = "$") -> list[str]:
    """A small JSON Schema checker (the subset pydantic emits); jsonschema is not installed here."""
    if "$ref" in schema:
        return _check(root["$defs"][schema["$ref"].rsplit("/", 1)[-1]], value, root, where)
    if "anyOf" in schema or "oneOf" in schema:
        options = schema.get("anyOf", schema.get("oneOf"))
        return [] if any(not _check(o, value, root, where) for o in options) else [f"{where}: no option matches"]
    errors: list[str] = []
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    kind = schema.get("type")
    if kind in ("number", "integer"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or (kind == "integer" and not float(value).is_integer()):
            return [f"{where}: expected {kind}"]
    elif kind is not None and not isinstance(value, kinds[kind]):
        return [f"{where}: expected {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} != {schema['const']!r}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [f"{where}: missing {key}" for key in schema.get("required", []) if key not in value]
        for key, item in value.items():
            if key in properties:
                errors += _check(properties[key], item, root, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: unexpected {key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += _check(schema["additionalProperties"], item, root, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += _check(schema["items"], item, root, f"{where}[{i}]")
    return errors


def test_schema_file_validates_results_json(run, tmp_path):
    JsonRenderer().render(run, tmp_path)
    schema = json.loads((tmp_path / SCHEMA_FILENAME).read_text())
    data = json.loads((tmp_path / "results.json").read_text())
    assert schema == AuditRun.model_json_schema()
    assert _check(schema, data, schema) == []
    # The checker can fail: a tampered document is rejected on the exact fields.
    data["status"] = "bogus"
    del data["run_id"]
    data["suites"][0]["metrics"][0]["n"] = "many"
    problems = _check(schema, data, schema)
    assert any("status" in p for p in problems)
    assert any("missing run_id" in p for p in problems)
    assert any("metrics[0].n" in p for p in problems)


def test_load_run_names_the_file_when_json_is_corrupt(run, tmp_path):
    path = JsonRenderer().render(run, tmp_path)
    path.write_text(path.read_text()[:200])
    with pytest.raises(DataError, match=re.escape(str(path))) as info:
        load_run(path)
    assert "not valid JSON" in str(info.value) and "line" in str(info.value)


def test_load_run_rejects_other_major_schema_version(run, tmp_path):
    path = tmp_path / "results.json"
    data = json.loads(run.model_dump_json())
    data["schema_version"] = "3.0"
    data["new_field_of_v3"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"results\.json: schema_version '3\.0'.*upgrade rai-audit"):
        load_run(path)
    data["schema_version"] = "2.7"  # same major, but the unknown field is still an error
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="new_field_of_v3"):
        load_run(path)


def test_load_run_names_file_and_field_of_an_invalid_value(run, tmp_path):
    path = tmp_path / "results.json"
    data = json.loads(run.model_dump_json())
    data["suites"][0]["metrics"][1]["value"] = "high"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError) as info:
        load_run(path)
    assert str(path) in str(info.value)
    assert "suites.0.metrics.1.value" in str(info.value)


def test_load_run_missing_file_and_non_object(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_run(tmp_path / "nope.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(DataError, match=r"list\.json: expected a JSON object"):
        load_run(tmp_path / "list.json")


# ---------------------------------------------------------------- HTML: safety


def test_html_escapes_every_planted_script(run, tmp_path):
    html = HtmlRenderer().render(run, tmp_path).read_text()
    assert "<script>alert" not in html
    assert "alert(1)</script>" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 10
    assert html.lower().count("<script") == 1  # only the report's own print helper
    assert ' onmouseover="' not in html
    assert "&#34; onmouseover=&#34;alert(2)" in html


def test_each_planted_place_is_rendered_escaped(run):
    html = render_html(run)
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f"<td>{escaped}</td>" in html  # table cell and model name
    assert f'<span class="tok" style="background-color:#2166ac;color:#ffffff" title="-0.800">{escaped}</span>' in html
    assert re.search(rf'<text [^>]*class="bar-label"[^>]*>{re.escape(escaped)} \(n=516\)</text>', html)
    assert "He said <mark" in html and f">{escaped}</mark> &amp; left." in html
    assert f"<h2>bias <span class=\"on\">on</span> {escaped}" in html


def test_html_needs_no_network(run):
    html = render_html(run)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "http://" not in html and "https://" not in html
    assert "@import" not in html and "url(" not in html


class _TagBalance(HTMLParser):
    """Tracks open elements; void and self-closed elements never go on the stack."""

    VOID = {"meta", "link", "br", "hr", "img", "input", "col", "wbr", "source"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.seen: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        self.seen[tag] = self.seen.get(tag, 0) + 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.seen[tag] = self.seen.get(tag, 0) + 1

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def test_html_is_well_formed_and_has_every_part(run):
    parser = _TagBalance()
    parser.feed(render_html(run))
    parser.close()
    assert parser.errors == [] and parser.stack == []
    assert parser.seen["svg"] == 3  # bar, line, matrix
    assert parser.seen["mark"] == 1 and parser.seen["details"] >= 3


def test_html_layout_summary_first_then_sections_then_provenance(run):
    html = render_html(run)
    summary, first_section = html.index('id="summary"'), html.index('class="suite"')
    assert summary < first_section < html.index('id="provenance"')
    verdicts = html[summary:first_section]
    assert verdicts.index("crows_max") < verdicts.index("accuracy_min")  # fails before warns
    assert '<td class="num count-fail">2</td>' in verdicts
    # proportions are stored as fractions and shown as percentages, with the ideal where set
    assert "57.3%" in verdicts and "[54.8, 59.9]" in verdicts and "n=1,508" in verdicts
    assert "ideal 50.0%" in verdicts and "84.1%" in verdicts
    assert "status-error" in verdicts and "1 min 15 s" in verdicts
    assert "run_budget" in verdicts
    assert "CapabilityError: needs train" in html
    assert "ab" * 32 in html and "ef" * 32 in html and "0123abc" in html


def test_group_metrics_are_collapsed_by_name(run):
    html = render_html(run)
    block = re.search(r'<details class="groups">(.*?)</details>', html, re.S).group(1)
    assert "<code>crows_pairs.metric</code> by group" in block and "(2 groups)" in block
    assert "bias_type: race-color" in block and "60.1%" in block and "[55.0, 65.2]" in block
    assert "ideal 50.0%" in block
    headline = html[html.index("<h3>Metrics</h3>"):html.index('<details class="groups">')]
    assert "bias_type" not in headline and "↓" in headline and "↑" in headline and "95% CI" in headline
    # a metric on perturbed inputs says so, and its two-key group reads as key: value pairs
    assert re.search(r"robustness\.accuracy</code> <span class=\"tag condition\">perturbed</span>", html)
    assert "perturbation: typo, dataset: rt" in html and "70.2%" in html


def test_big_tables_are_cut_with_a_note():
    rows = [[i, f"row {i}"] for i in range(600)]
    table = TableView(title="t", columns=["i", "r"], rows=rows)
    result = SuiteResult(suite="s", suite_version="1", model="m", views=[table])
    html = render_html(AuditRun(run_id="r", status=Status.PASSED, provenance=Provenance(), suites=[result]))
    assert "row 499" in html and "row 500" not in html
    assert "Showing 500 of 600 rows" in html


def test_empty_run_renders():
    run = AuditRun(run_id="empty", status=Status.ERROR, provenance=Provenance())
    html = render_html(run)
    assert "This run has no suite results." in html and "No failed or warning findings." in html


# ---------------------------------------------------------------- charts


def test_junit_counts_failures_errors_and_escapes(run, tmp_path):
    path = JUnitRenderer().render(run, tmp_path)
    root = ET.parse(path).getroot()  # parses despite the control characters planted in a message
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"run", f"bias/{XSS}", "privacy/minilm"}
    bias = suites[f"bias/{XSS}"]
    # status + crows_max (fail) + accuracy_min (warn) + the gate-less fail; the gate-less info is not a test
    assert [c.get("name") for c in bias.findall("testcase")] == ["status", "accuracy_min", "crows_max", "finding"]
    assert (bias.get("tests"), bias.get("failures"), bias.get("errors")) == ("4", "2", "0")
    failure = bias.find("testcase[@name='crows_max']/failure")
    assert failure.get("message") == f"CrowS 57.3 > 55 {XSS}" and '"threshold": 55' in failure.text
    assert "\ufffd" in bias.find("testcase[@name='finding']/failure").get("message")
    assert (suites["privacy/minilm"].get("errors"), suites["privacy/minilm"].get("tests")) == ("1", "1")
    assert suites["privacy/minilm"].find("testcase/error").get("message") == "CapabilityError: needs train"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "2", "1")
    assert "<script>" not in path.read_text()


def test_junit_duplicate_gates_and_skipped():
    result = SuiteResult(suite="s", suite_version="1", model="m", status=Status.SKIPPED, findings=[
        Finding(severity=Severity.FAIL, gate="g", message="one"),
        Finding(severity=Severity.FAIL, gate="g", message="two"),
    ])
    run = AuditRun(run_id="r", status=Status.FAILED, provenance=Provenance(), suites=[result])
    root = ET.fromstring(junit_xml(run))
    suite = root.find("testsuite")
    assert [c.get("name") for c in suite.findall("testcase")] == ["status", "g", "g #2"]
    assert (suite.get("failures"), suite.get("skipped")) == ("2", "1")


# ---------------------------------------------------------------- registration


def test_renderers_are_registered_and_follow_the_protocol(run, tmp_path):
    found = {ep.name: ep.load() for ep in entry_points(group="audit.renderers")}
    assert {"json", "html", "junit"} <= set(found)
    for name, cls in found.items():
        renderer = cls()
        assert isinstance(renderer, Renderer) and renderer.name == name
        path = renderer.render(run, tmp_path / "out")
        if path is None:   # an optional output switched off here (the PDF: RAI_AUDIT_PDF=0 in tests)
            assert getattr(renderer, "optional", False), f"{name} returned None but is not optional"
            assert not (tmp_path / "out" / renderer.filename).exists()
            continue
        assert path == tmp_path / "out" / renderer.filename and path.stat().st_size > 0
    leftovers = [p.name for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == [] and Path(tmp_path / "out" / "report.html").exists()
