"""Group fairness of a classifier's predictions by sensitive feature(s), with fairlearn's MetricFrame.

Point estimates are fairlearn's (MetricFrame by_group, demographic_parity_difference/ratio,
equalized_odds_difference). Per-group rates are proportions with Wilson intervals on their own
denominators (FPR over the group's negatives, FNR over its positives); the disparities get CIs from
one vectorised bootstrap that resamples rows within each group (group sizes fixed).
Several sensitive columns give intersectional groups ({"target_ident": "women", "direction": "general"}).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Literal

import numpy as np
import pandas as pd
from fairlearn.metrics import (MetricFrame, demographic_parity_difference, demographic_parity_ratio,
                               equalized_odds_difference, false_negative_rate, false_positive_rate,
                               selection_rate)
from sklearn.metrics import accuracy_score

from audit.models.adapters.base import Capability, ModelAdapter
from audit.data.labelled import ON_BLANK_DROP, is_blank
from audit.data.resolver import DataResolver
from audit.errors import ConfigError, DataError
from audit.results import (STAT_EO_GAP, STAT_MAX_GAP, UNIT_PROPORTION, Bar, BarChartView, Finding, Group, Metric,
                           Outcomes, Severity, SuiteResult, TableView, group_key, group_label, parse_group)
from audit.stats.intervals import nan_share, percentile_ci
from audit.stats import wilson_interval
from audit.run.suite import Context, SuiteConfig

KEY = "fairness"
ACCURACY = f"{KEY}.accuracy"
SELECTION_RATE = f"{KEY}.selection_rate"
FALSE_POSITIVE_RATE = f"{KEY}.false_positive_rate"
FALSE_NEGATIVE_RATE = f"{KEY}.false_negative_rate"
DP_DIFFERENCE = f"{KEY}.demographic_parity_difference"
DP_RATIO = f"{KEY}.demographic_parity_ratio"
EO_DIFFERENCE = f"{KEY}.equalized_odds_difference"
EMPTY_GROUP = "none"
DROPPED_ATTR = "dropped_blank_rows"
CI_METHOD = "percentile bootstrap within groups ({})"
# metric -> (ideal, higher_is_better, unit) of the overall disparities
DISPARITIES = {DP_DIFFERENCE: (0.0, False, UNIT_PROPORTION), DP_RATIO: (1.0, True, "ratio"),
               EO_DIFFERENCE: (0.0, False, UNIT_PROPORTION)}
UNDEFINED_REASON = {DP_DIFFERENCE: "no rows", DP_RATIO: "no group has any positive prediction",
                    EO_DIFFERENCE: "no group holds both classes, so true/false positive rates cannot be compared"}

# metric name -> (fairlearn function, higher_is_better)
GROUP_METRICS = {
    ACCURACY: (accuracy_score, True),
    SELECTION_RATE: (selection_rate, None),
    FALSE_POSITIVE_RATE: (false_positive_rate, False),
    FALSE_NEGATIVE_RATE: (false_negative_rate, False),
}


class FairnessConfig(SuiteConfig):
    dataset: str = "builtin:hatecheck/test_suite_cases.csv"
    text_column: str = "test_case"
    label_column: str = "label_gold"
    positive_label: str = "hateful"                 # dataset value counted as the positive class
    model_positive_label: str | None = "negative"   # model label meaning positive; None = positive_label
    sensitive_columns: list[str] = ["target_ident"]
    limit: int | None = None                        # seeded row sample; None = all rows
    drop_empty_groups: bool = False                 # legacy spelling of on_blank: drop
    on_blank: Literal["error", "drop"] = "error"    # a blank text/label/sensitive cell: refuse, or drop (counted)
    resamples: int = 300                            # bootstrap of the disparities (group rates: Wilson)


@dataclass(frozen=True)
class GroupCounts:
    """Confusion counts per group; arrays of shape (..., n_groups) (a leading resample axis is allowed)."""

    n: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray

    def rates(self) -> dict[str, np.ndarray]:
        """Per-group rates; NaN where a rate is undefined (no positives / no negatives)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return {ACCURACY: (self.tp + self.tn) / self.n,
                    SELECTION_RATE: (self.tp + self.fp) / self.n,
                    FALSE_POSITIVE_RATE: self.fp / (self.fp + self.tn),
                    FALSE_NEGATIVE_RATE: self.fn / (self.fn + self.tp),
                    "tpr": self.tp / (self.tp + self.fn)}

    def fractions(self, g: int) -> dict[str, tuple[int, int]]:
        """(successes, denominator) of each group rate of group g, for its Wilson interval."""
        tp, fp, fn, tn, n = (int(round(float(x[g]))) for x in (self.tp, self.fp, self.fn, self.tn, self.n))
        return {ACCURACY: (tp + tn, n), SELECTION_RATE: (tp + fp, n),
                FALSE_POSITIVE_RATE: (fp, fp + tn), FALSE_NEGATIVE_RATE: (fn, fn + tp)}


# ---------------------------------------------------------------- pure functions


def group_keys(frame: pd.DataFrame, columns: list[str], *, drop_empty: bool) -> pd.DataFrame:
    """The sensitive columns as strings, empty values → "none" (or those rows dropped)."""
    keys = frame[columns].astype(str).apply(lambda col: col.str.strip())
    if drop_empty:
        return keys[(keys != "").all(axis=1)]
    return keys.replace("", EMPTY_GROUP)


def group_name(columns: list[str], values: tuple | str) -> Group:
    """{column: value} (several keys for an intersection): the metric's group."""
    values = values if isinstance(values, tuple) else (values,)
    return {c: str(v) for c, v in zip(columns, values)}


def metric_frame(y_true: np.ndarray, y_pred: np.ndarray, sensitive: pd.DataFrame) -> MetricFrame:
    """fairlearn's MetricFrame of accuracy, selection rate, FPR and FNR by group."""
    return MetricFrame(metrics={name: fn for name, (fn, _) in GROUP_METRICS.items()},
                       y_true=y_true.astype(int), y_pred=y_pred.astype(int), sensitive_features=sensitive)


def eligible_rows(y_true: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Rows of groups holding both classes: the groups where TPR and FPR are both defined.

    fairlearn scores an undefined rate as 0, which would turn a group without positives (e.g.
    HateCheck's cases with no target) into a spurious equalized-odds gap; such groups are left out.
    """
    pos = np.bincount(codes, weights=y_true.astype(float))
    neg = np.bincount(codes, weights=1.0 - y_true)
    ok = (pos > 0) & (neg > 0)
    return ok[codes]


def disparities(y_true: np.ndarray, y_pred: np.ndarray, sensitive: pd.DataFrame) -> dict[str, float]:
    """fairlearn's DP difference / ratio (all groups) and equalized-odds difference (eligible groups)."""
    codes = sensitive_codes(sensitive)[0]
    keep = eligible_rows(y_true, codes)
    t, p = y_true.astype(int), y_pred.astype(int)
    eo = (equalized_odds_difference(t[keep], p[keep], sensitive_features=sensitive[keep].reset_index(drop=True))
          if keep.any() else float("nan"))
    return {DP_DIFFERENCE: float(demographic_parity_difference(t, p, sensitive_features=sensitive)),
            DP_RATIO: float(demographic_parity_ratio(t, p, sensitive_features=sensitive)),
            EO_DIFFERENCE: float(eo)}


def sensitive_codes(sensitive: pd.DataFrame) -> tuple[np.ndarray, list[tuple]]:
    """Integer group code per row and the group value tuples (sorted, as MetricFrame orders them)."""
    tuples = list(map(tuple, sensitive.to_numpy()))
    groups = sorted(set(tuples))
    lookup = {g: i for i, g in enumerate(groups)}
    return np.array([lookup[t] for t in tuples], dtype=int), groups


def bootstrap_counts(y_true: np.ndarray, y_pred: np.ndarray, codes: np.ndarray, n_groups: int, *,
                     resamples: int, seed: int) -> GroupCounts:
    """Confusion counts per (resample, group), resampling rows within each group (vectorised)."""
    rng = np.random.default_rng(seed)
    shape = (resamples, n_groups)
    tp, fp, fn, tn, n = (np.zeros(shape) for _ in range(5))
    for g in range(n_groups):
        rows = np.flatnonzero(codes == g)
        draw = rows[rng.integers(0, rows.size, size=(resamples, rows.size))]
        t, p = y_true[draw], y_pred[draw]
        tp[:, g] = (t & p).sum(axis=1)
        fp[:, g] = (~t & p).sum(axis=1)
        fn[:, g] = (t & ~p).sum(axis=1)
        tn[:, g] = (~t & ~p).sum(axis=1)
        n[:, g] = rows.size
    return GroupCounts(n, tp, fp, fn, tn)


def point_counts(y_true: np.ndarray, y_pred: np.ndarray, codes: np.ndarray, n_groups: int) -> GroupCounts:
    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=mask.astype(float), minlength=n_groups)
    return GroupCounts(count(np.ones_like(y_true)), count(y_true & y_pred), count(~y_true & y_pred),
                       count(y_true & ~y_pred), count(~y_true & ~y_pred))


def disparities_from_counts(counts: GroupCounts, eligible: np.ndarray) -> dict[str, np.ndarray]:
    """DP difference / ratio over all groups and EO difference over `eligible` groups, per resample."""
    rates = counts.rates()
    sel = rates[SELECTION_RATE]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.nanmin(sel, axis=-1) / np.nanmax(sel, axis=-1)
    tpr, fpr = rates["tpr"][..., eligible], rates[FALSE_POSITIVE_RATE][..., eligible]
    spread = lambda x: np.nanmax(x, axis=-1) - np.nanmin(x, axis=-1)  # noqa: E731
    return {DP_DIFFERENCE: spread(sel), DP_RATIO: ratio,
            EO_DIFFERENCE: np.maximum(spread(tpr), spread(fpr)) if eligible.any() else np.full(sel.shape[:-1], np.nan)}


def occurrence_ids(texts: list[str]) -> list[str]:
    """Stable per-row ids from the text (a repeated text gets #2, #3, ...), the same in any seeded subset."""
    seen: dict[str, int] = {}
    out = []
    for text in texts:
        seen[text] = seen.get(text, 0) + 1
        out.append(text if seen[text] == 1 else f"{text}#{seen[text]}")
    return out


def fairness_outcomes(ids: list[str], y_true: np.ndarray, y_pred: np.ndarray, sensitive: pd.DataFrame,
                      columns: list[str]) -> list[Outcomes]:
    """Per-row outcomes: the disparities (recomputed per group by compare: a paired bootstrap within
    groups) and each group's accuracy and selection rate (means of 0/1 outcomes)."""
    strata = [group_key(group_name(columns, tuple(row))) or "" for row in sensitive.to_numpy()]
    pred, true = y_pred.astype(float).tolist(), y_true.astype(float).tolist()
    out = [Outcomes(metric=DP_DIFFERENCE, example_ids=ids, values=pred, statistic=STAT_MAX_GAP, strata=strata),
           Outcomes(metric=EO_DIFFERENCE, example_ids=ids, values=pred, labels=true, statistic=STAT_EO_GAP,
                    strata=strata)]
    correct = (y_true == y_pred).astype(float)
    for key in dict.fromkeys(strata):
        rows = [k for k, s in enumerate(strata) if s == key]
        group, own = parse_group(key), [ids[k] for k in rows]
        out.append(Outcomes(metric=ACCURACY, group=group, example_ids=own, values=correct[rows].tolist()))
        out.append(Outcomes(metric=SELECTION_RATE, group=group, example_ids=own, values=[pred[k] for k in rows]))
    return out


# ---------------------------------------------------------------- the part


class FairnessPart:
    """Per-group accuracy, selection rate, FPR, FNR and overall disparities of a classifier."""

    key: ClassVar[str] = KEY
    Config: ClassVar[type[SuiteConfig]] = FairnessConfig

    def unsupported_reason(self, adapter: ModelAdapter) -> str | None:
        if Capability.CLASSIFY not in adapter.capabilities:
            return "group fairness needs a classifier (classify capability)"
        return None

    def run(self, ctx: Context, cfg: SuiteConfig, result: SuiteResult) -> None:
        assert isinstance(cfg, FairnessConfig)
        frame, sensitive, y_true = load_fairness_data(ctx, cfg)
        model_label = cfg.model_positive_label or cfg.positive_label
        labels = [str(label) for label in ctx.adapter.labels]
        if model_label not in labels:
            raise ConfigError(f"bias.fairness.model_positive_label: {model_label!r} is not a model label "
                              f"({', '.join(labels)})")
        probs = np.asarray(ctx.adapter.classify(frame[cfg.text_column].astype(str).tolist()))
        y_pred = probs.argmax(axis=1) == labels.index(model_label)
        self._record(ctx, cfg, result, y_true, y_pred, sensitive)
        dropped = int(frame.attrs.get(DROPPED_ATTR, 0))
        result.details[KEY][DROPPED_ATTR] = dropped
        if dropped:
            result.findings.append(Finding(
                severity=Severity.INFO, metric=None,
                message=f"Fairness: {dropped} row(s) with a blank text, label or sensitive cell were dropped "
                        "(on_blank: drop); the rates describe the other rows only."))
        result.outcomes.extend(fairness_outcomes(occurrence_ids(frame[cfg.text_column].astype(str).tolist()),
                                                 y_true, y_pred, sensitive, cfg.sensitive_columns))
        if model_label != cfg.positive_label:
            result.findings.append(Finding(
                severity=Severity.INFO, metric=EO_DIFFERENCE,
                message=f"Proxy task: the model's label {model_label!r} is counted as a prediction of the dataset's "
                        f"{cfg.positive_label!r} class; the numbers describe that proxy, not a purpose-built "
                        f"classifier."))

    @staticmethod
    def _record(ctx: Context, cfg: FairnessConfig, result: SuiteResult, y_true: np.ndarray, y_pred: np.ndarray,
                sensitive: pd.DataFrame) -> None:
        columns = cfg.sensitive_columns
        codes, groups = sensitive_codes(sensitive)
        counts = point_counts(y_true, y_pred, codes, len(groups))
        boot = bootstrap_counts(y_true, y_pred, codes, len(groups), resamples=cfg.resamples,
                                seed=ctx.sub_seed(KEY, "bootstrap"))
        method = CI_METHOD.format(cfg.resamples)
        by_group = metric_frame(y_true, y_pred, sensitive).by_group
        point_rates = counts.rates()
        undefined: list[str] = []
        for g, values in enumerate(groups):
            name = group_name(columns, values)
            row = by_group.loc[values if len(values) > 1 else values[0]]
            fractions = counts.fractions(g)
            for metric, (_, better) in GROUP_METRICS.items():
                if not np.isfinite(point_rates[metric][g]):
                    undefined.append(f"{metric} for {group_key(name)}")
                    continue
                # fairlearn's value (the same count ratio) with the Wilson interval of its counts
                est = wilson_interval(*fractions[metric]).model_copy(update={"value": float(row[metric])})
                result.metrics.append(Metric.from_estimate(metric, est, group=name, higher_is_better=better,
                                                           unit=UNIT_PROPORTION))
        eligible = np.array([(counts.tp[g] + counts.fn[g]) > 0 and (counts.fp[g] + counts.tn[g]) > 0
                             for g in range(len(groups))])
        overall = disparities(y_true, y_pred, sensitive)
        boot_disp = disparities_from_counts(boot, eligible)
        for metric, (ideal, better, unit) in DISPARITIES.items():
            if not np.isfinite(overall[metric]):
                undefined.append(metric)
                result.findings.append(Finding(
                    severity=Severity.INFO, metric=metric,
                    message=f"{metric} is undefined here: {UNDEFINED_REASON[metric]}."))
                continue
            low, high = percentile_ci(boot_disp[metric], point=overall[metric])
            n = int(counts.n[eligible].sum()) if metric == EO_DIFFERENCE else int(counts.n.sum())
            result.metrics.append(Metric(name=metric, value=overall[metric], ci_low=low, ci_high=high, n=n,
                                         ci_method=f"{method}, widened to contain the estimate",
                                         nan_share=nan_share(boot_disp[metric]),
                                         higher_is_better=better, ideal=ideal, unit=unit))
        left_out = [group_label(group_name(columns, groups[g])) for g in range(len(groups)) if not eligible[g]]
        result.details[KEY] = {"n": int(len(y_true)), "groups": len(groups), "sensitive_columns": columns,
                               "eo_groups_left_out": left_out, "undefined": undefined}
        if left_out:
            result.findings.append(Finding(
                severity=Severity.INFO, metric=EO_DIFFERENCE,
                message=f"Equalized odds left out {len(left_out)} group(s) lacking positives or negatives "
                        f"(their TPR or FPR is undefined): {', '.join(left_out)}."))
        _views(result, columns)


def load_fairness_data(ctx: Context, cfg: FairnessConfig) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """(rows, sensitive keys, y_true) after validation, empty-group handling and the seeded limit."""
    return read_fairness_data(ctx.data, cfg, rng=lambda: ctx.rng(KEY, "limit"))


def read_fairness_data(data: DataResolver, cfg: FairnessConfig, *,
                       rng: Callable[[], np.random.Generator] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """load_fairness_data without a model context (the preflight check; no limit without `rng`)."""
    what = "bias.fairness.dataset"
    frame = data.read_table(cfg.dataset, what=what)
    path = str(data.resolve(cfg.dataset, what=what))
    if not cfg.sensitive_columns:
        raise ConfigError("bias.fairness.sensitive_columns: name at least one column")
    missing = [c for c in cfg.sensitive_columns if c not in frame.columns]
    if missing:
        raise DataError(f"bias.fairness.sensitive_columns: {path}: sensitive column(s) "
                        f"{', '.join(map(repr, missing))} not found; columns are {', '.join(map(str, frame.columns))}")
    data.require_columns(frame, [cfg.text_column, cfg.label_column], path=path, what=what)
    frame = drop_blank_rows(frame, [cfg.text_column, cfg.label_column, *cfg.sensitive_columns], path=path,
                            drop=cfg.on_blank == ON_BLANK_DROP or cfg.drop_empty_groups)
    dropped = frame.attrs.get(DROPPED_ATTR, 0)
    keys = group_keys(frame, cfg.sensitive_columns, drop_empty=True)
    if cfg.limit is not None and len(frame) > cfg.limit and rng is not None:
        keep = np.sort(rng().choice(len(frame), size=cfg.limit, replace=False))
        frame, keys = frame.iloc[keep], keys.iloc[keep]
    if frame.empty:
        raise DataError(f"{what}: {path}: no rows left (empty dataset, or every sensitive value is empty)")
    labels = frame[cfg.label_column].astype(str)
    if not (labels == cfg.positive_label).any():
        raise DataError(f"bias.fairness.positive_label: {path}: column {cfg.label_column!r} never holds "
                        f"{cfg.positive_label!r} (values: {', '.join(sorted(labels.unique())[:10])})")
    out = frame.reset_index(drop=True)
    out.attrs[DROPPED_ATTR] = dropped
    return out, keys.reset_index(drop=True), (labels == cfg.positive_label).to_numpy()


def drop_blank_rows(frame: pd.DataFrame, columns: list[str], *, path: str, drop: bool) -> pd.DataFrame:
    """Rows without a blank cell in `columns`; a blank is a DataError naming row and column unless `drop`
    (then the count is kept in frame.attrs, for the result's details)."""
    blank = frame[columns].map(is_blank)
    rows = np.flatnonzero(blank.to_numpy().any(axis=1))
    if len(rows) and not drop:
        first = int(rows[0])
        column = columns[int(np.argmax(blank.iloc[first].to_numpy()))]
        raise DataError(f"bias.fairness.dataset: {path}: row {first + 1}: column {column!r} is blank "
                        f"({len(rows)} row(s) have a blank cell); fill them, or set bias.fairness.on_blank: drop "
                        "(a blank sensitive value is never made into a group)")
    kept = frame.iloc[np.setdiff1d(np.arange(len(frame)), rows)].copy()
    kept.attrs[DROPPED_ATTR] = len(rows)
    return kept


def _views(result: SuiteResult, columns: list[str]) -> None:
    """Bar charts of selection rate and FNR by group and a table of all group rates."""
    for metric, title in ((SELECTION_RATE, "Selection rate by group"),
                          (FALSE_NEGATIVE_RATE, "False negative rate by group")):
        bars = [Bar(label=group_label(m.group), value=m.value, ci_low=m.ci_low, ci_high=m.ci_high, n=m.n)
                for m in result.metrics if m.name == metric and m.group]
        result.views.append(BarChartView(title=f"Fairness: {title.lower()} ({' × '.join(columns)})", bars=bars,
                                         unit=UNIT_PROPORTION,
                                         caption="95% Wilson intervals; n = the rate's denominator."))
    table: dict[str, dict[str, float | int]] = {}
    for m in result.metrics:
        if m.group and m.name in GROUP_METRICS:
            cell = table.setdefault(group_label(m.group), {"n": 0})
            cell[m.name] = round(m.value, 4)
            if m.name == ACCURACY:
                cell["n"] = m.n
    names = list(GROUP_METRICS)
    rows = [[g, vals["n"]] + [vals.get(n) for n in names] for g, vals in table.items()]
    rows.sort(key=lambda r: -(r[3] if r[3] is not None else 0))
    result.views.append(TableView(title="Fairness: rates by group",
                                  columns=["group", "n"] + [n.split(".", 1)[1] for n in names], rows=rows,
                                  caption="Empty cells: rate undefined (no positives or negatives in the group)."))
