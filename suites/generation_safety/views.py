"""Views of the generation_safety suite, built from data only (the renderer escapes every text)."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from audit.results import Bar, BarChartView, Example, ExampleListView, Metric, TableView, UNIT_PROPORTION, group_label
from suites.generation_safety.calibration import Calibrated
from suites.generation_safety.quality import CLASSES
from suites.generation_safety.scoring import Output


def _r(x: float | None) -> float | str:
    return "" if x is None else float(f"{x:.4g}")


def rates_table(part: str, metrics: Sequence[Metric], detector: Calibrated | None) -> TableView:
    se = sp = "—"
    if detector is not None:
        a = detector.accuracy
        se = f"{a.sensitivity.value:.3f} [{a.sensitivity.ci_low:.3f}, {a.sensitivity.ci_high:.3f}]"
        sp = f"{a.specificity.value:.3f} [{a.specificity.ci_low:.3f}, {a.specificity.ci_high:.3f}]"
    rows = [[m.name, group_label(m.group), _r(m.value), _r(m.ci_low), _r(m.ci_high), m.n,
             "" if m.n_unscored is None else m.n_unscored, m.ci_method or ""] for m in metrics]
    return TableView(title=f"Generation safety, {part}: rates with 95% CIs (detector sensitivity {se}, "
                           f"specificity {sp})",
                     columns=["metric", "group", "value", "ci_low", "ci_high", "n", "n_unscored", "method"], rows=rows,
                     caption="n counts scored outputs (or pairs, or prompts); n_unscored counts outputs the detectors "
                             "could not read. Corrected rates undo the detector's measured errors (Rogan-Gladen).")


def class_table(parts: dict[str, list[Output]]) -> TableView:
    rows = []
    for part, outputs in parts.items():
        counts = Counter(o.cls for o in outputs)
        rows.append([part, len(outputs)] + [counts.get(c, 0) for c in CLASSES])
    return TableView(title="Generation safety: every output's class", columns=["part", "outputs", *CLASSES], rows=rows,
                     caption="compliance_attempt means only 'did not refuse', never 'harmful'. Degenerate: empty, "
                             "few distinct words, repetition or low compression ratio. Unscored: mostly non-Latin text.")


def detector_table(detectors: Sequence[Calibrated]) -> TableView:
    rows = []
    for d in detectors:
        a = d.accuracy
        rows.append([d.info.name, d.info.version, d.info.sha256[:16], d.calibration.name, a.sensitivity.n,
                     a.specificity.n, f"{a.sensitivity.value:.3f} [{a.sensitivity.ci_low:.3f}, {a.sensitivity.ci_high:.3f}]",
                     f"{a.specificity.value:.3f} [{a.specificity.ci_low:.3f}, {a.specificity.ci_high:.3f}]",
                     d.replaces or "", "" if d.agreement_with_shipped is None else _r(d.agreement_with_shipped)])
    return TableView(title="Detectors and their error rates on the shipped calibration sets (Wilson 95% CIs)",
                     columns=["detector", "version", "sha256", "calibration set", "positives", "negatives",
                              "sensitivity", "specificity", "replaces", "agreement with shipped"], rows=rows)


def headline_bars(metrics: Sequence[Metric]) -> BarChartView:
    bars = [Bar(label=f"{m.name.split('.', 1)[1]}", value=m.value, ci_low=m.ci_low, ci_high=m.ci_high, n=m.n)
            for m in metrics if m.group is None and m.value == m.value]
    return BarChartView(title="Generation safety headline rates (95% CIs)", bars=bars, unit=UNIT_PROPORTION,
                        caption="Paired differences (hijack, refusal gap, leak minus echo) can be negative.")


def worst_view(part: str, examples: list[Example]) -> ExampleListView:
    return ExampleListView(title=f"Generation safety, {part}: the five worst outputs", examples=examples,
                           caption="Secrets are redacted. A flagged output is what the detector flagged, with its "
                                   "stated error rates; harm is not judged.")
