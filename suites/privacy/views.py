"""Views of the privacy suite, built from data only (the renderer escapes every text)."""

from __future__ import annotations

from typing import Any

import numpy as np

from audit.results import UNIT_PROPORTION, Bar, BarChartView, LineChartView, Series, TableView
from suites.privacy.canary_part import CanaryModel
from suites.privacy.dp_part import TrainedModel
from suites.privacy.probe_study import ProbeModel
from suites.privacy.metrics import AttackEvaluation

MAX_ROC_POINTS = 300
ACCOUNTING_COLUMNS = ["accountant", "epsilon_target", "epsilon_spent", "delta", "noise_multiplier",
                      "max_grad_norm", "sample_rate", "steps", "mode", "mode_reason"]


def _thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_ROC_POINTS) -> tuple[list[float], list[float]]:
    """At most `limit` points, spread evenly in log-FPR so the low-FPR end keeps its detail."""
    if x.size <= limit:
        return x.tolist(), y.tolist()
    keep = np.unique(np.r_[0, np.searchsorted(x, np.geomspace(max(x[x > 0].min(), 1e-6), 1, limit)), x.size - 1])
    keep = keep[keep < x.size]
    return x[keep].tolist(), y[keep].tolist()


def roc_chart(evaluations: list[AttackEvaluation]) -> LineChartView:
    series = []
    for ev in evaluations:
        x, y = _thin(ev.roc.fpr, ev.roc.tpr)
        series.append(Series(name=f"{ev.model} ({ev.scores.attack})", x=x, y=y))
    low = min((float(ev.roc.fpr[ev.roc.fpr > 0].min()) for ev in evaluations), default=1e-3)
    grid = np.geomspace(low, 1.0, 20).tolist()
    series.append(Series(name="chance", x=grid, y=grid))
    return LineChartView(title="Membership inference: ROC curves (log-scale false-positive rate)", series=series,
                         x_label="false-positive rate (non-members flagged)", y_label="true-positive rate",
                         x_scale="log", y_scale="log",
                         caption="Curves above the chance diagonal at low false-positive rates mean some members "
                                 "can be identified confidently (Carlini et al. 2022).")


def auc_bars(evaluations: list[AttackEvaluation]) -> BarChartView:
    bars = [Bar(label=f"{ev.model} ({ev.scores.attack})", value=ev.auc.auc.value, ci_low=ev.auc.auc.ci_low,
                ci_high=ev.auc.auc.ci_high, n=ev.auc.auc.n) for ev in evaluations]
    return BarChartView(title="Membership-inference AUC (DeLong 95% CI)", bars=bars, unit=UNIT_PROPORTION,
                        reference=0.5, caption="0.5: members and non-members cannot be told apart.")


def tpr_bars(evaluations: list[AttackEvaluation]) -> BarChartView | None:
    """TPR at the lowest false-positive rate every attack could report (None when there is none)."""
    rates = [{t.target_fpr for t in ev.tpr} for ev in evaluations]
    common = set.intersection(*rates) if rates else set()
    if not common:
        return None
    target = min(common)
    bars = []
    for ev in evaluations:
        t = next(t for t in ev.tpr if t.target_fpr == target)
        bars.append(Bar(label=f"{ev.model} ({ev.scores.attack})", value=t.tpr.value, ci_low=t.tpr.ci_low,
                        ci_high=t.tpr.ci_high, n=t.tpr.n))
    return BarChartView(title=f"True-positive rate at {target:g} false-positive rate (bootstrap 95% CI over "
                              "members and non-members)",
                        bars=bars, unit=UNIT_PROPORTION, reference=target,
                        caption=f"An attack at chance flags {target:g} of the members at this false-positive rate.")


def epsilon_accuracy_chart(models: "list[TrainedModel] | list[ProbeModel]") -> LineChartView:
    dp = sorted((m for m in models if m.epsilon is not None), key=lambda m: m.epsilon)
    xs = [float(m.epsilon) for m in dp]
    control = float(models[0].correct.mean())
    return LineChartView(title="Accuracy against the privacy budget", x_label="target epsilon (delta fixed)",
                         y_label="test accuracy", x_scale="log",
                         series=[Series(name="DP-SGD", x=xs, y=[float(m.correct.mean()) for m in dp]),
                                 Series(name="non-private control", x=xs, y=[control] * len(xs))],
                         caption="Same seed, data, steps and trained parameters; only the privacy engine differs.")


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    return "" if value is None else value


def recipe_table(models: list[TrainedModel]) -> TableView:
    rows = []
    for m in models:
        accounting = m.accounting
        training = m.derived.training
        rows.append([m.label] + [_cell(accounting.get(c)) for c in ACCOUNTING_COLUMNS]
                    + [_cell(training.get("seconds_per_step")), _cell(training.get("trainable_parameters")),
                       "; ".join(f"{f.get('module')}: {f.get('reason')}" for f in training.get("frozen") or [])])
    return TableView(title="DP-SGD recipe and privacy accounting", rows=rows,
                     columns=["model"] + ACCOUNTING_COLUMNS + ["s/step", "trainable parameters", "frozen (why)"],
                     caption="Epsilon spent is the accountant's epsilon after the last step; the noise multiplier "
                             "was chosen so that it meets the target at these steps and sample rate.")


def one_run_table(models: list[TrainedModel]) -> TableView:
    rows = [[m.label, m.one_run.m, m.one_run.r, m.one_run.v, _cell(m.one_run.epsilon),
             "" if m.epsilon is None else m.epsilon] for m in models if m.one_run is not None]
    return TableView(title="One-run audit (Steinke, Nasr & Jagielski 2023)",
                     columns=["model", "canaries m", "guesses r", "correct v", "epsilon lower bound (95%)",
                              "claimed epsilon"], rows=rows,
                     caption="Mislabelled canaries, each trained on with probability 1/2; guesses on the k most "
                             "and k least likely members.")


def exposure_table(models: list[CanaryModel]) -> TableView:
    rows = [[m.label, r.secret.owner, r.secret.text, r.secret.repeats, round(r.exposure.exposure, 2),
             r.exposure.n_better, r.exposure.n_candidates, "yes" if r.teacher_forced else "no",
             "" if r.extraction is None else ("yes" if r.extracted else "no"),
             "" if r.extraction is None else r.extraction.continuation[:40]] for m in models for r in m.results]
    return TableView(title="Canary exposure and greedy extraction (Carlini et al. 2019)", rows=rows,
                     columns=["model", "owner", "secret", "times inserted", "exposure (bits)", "candidates ranked above",
                              "candidates", "every token the argmax (teacher-forced)",
                              "greedy generation writes it out", "greedy continuation"],
                     caption="Exposure = log2|R| - log2(rank among the candidate space); never-inserted secrets "
                             "(0 times) are the baseline. Extraction: the text before the secret is given to "
                             "adapter.generate (greedy, no chat template); the secret must be written exactly. "
                             "The secrets are synthetic, so they are shown.")
