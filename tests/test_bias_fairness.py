"""Fairness part: fairlearn numbers cross-checked with a pandas groupby, on real HateCheck rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec
from audit.data.resolver import DataResolver, builtin_path
from audit.errors import ConfigError, DataError
from audit.results import UNIT_PROPORTION, SuiteResult
from audit.run.suite import Context
from suites.bias import fairness as F

HATECHECK = builtin_path("hatecheck/test_suite_cases.csv")


def _context(tmp_path: Path, adapter=None) -> Context:
    data = DataResolver(config_dir=tmp_path, prepared_dir=tmp_path)
    return Context(model_name="m", adapter=adapter, config=None, seed=0, data=data, artifacts_dir=tmp_path)


@pytest.fixture(scope="module")
def hatecheck_predictions():
    """Real HateCheck rows with predictions from a simple independent rule (a keyword list)."""
    frame = pd.read_csv(HATECHECK, keep_default_na=False)
    y_true = (frame["label_gold"] == "hateful").to_numpy()
    y_pred = frame["test_case"].str.contains(r"hate|kill|disgust|scum|die", case=False, regex=True).to_numpy()
    # HateCheck's own `direction` is determined by the label, so intersections use a length bucket
    frame = frame.assign(length=np.where(frame["test_case"].str.len() > 40, "long", "short"))
    return frame, y_true, y_pred


def _hand_rates(frame: pd.DataFrame, y_true, y_pred, columns: list[str]) -> pd.DataFrame:
    """Selection rate, FPR, FNR, TPR per group with a plain pandas groupby."""
    df = frame[columns].replace("", F.EMPTY_GROUP).assign(t=y_true, p=y_pred)
    rows = {}
    for key, g in df.groupby(columns):
        neg, pos = g[~g.t], g[g.t]
        rows[key if len(columns) > 1 else key[0]] = {
            "sel": g.p.mean(), "acc": (g.p == g.t).mean(),
            "fpr": neg.p.mean() if len(neg) else np.nan, "fnr": 1 - pos.p.mean() if len(pos) else np.nan,
            "tpr": pos.p.mean() if len(pos) else np.nan, "n": len(g), "n_neg": len(neg), "n_pos": len(pos)}
    return pd.DataFrame(rows).T


@pytest.mark.parametrize("columns", [["target_ident"], ["target_ident", "length"]])
def test_group_rates_and_disparities_match_pandas(hatecheck_predictions, columns):
    frame, y_true, y_pred = hatecheck_predictions
    hand = _hand_rates(frame, y_true, y_pred, columns)
    keys = F.group_keys(frame, columns, drop_empty=False)
    by_group = F.metric_frame(y_true, y_pred, keys).by_group
    codes, groups = F.sensitive_codes(keys)
    counts = F.point_counts(y_true, y_pred, codes, len(groups))
    rates = counts.rates()
    assert len(groups) == len(hand) and len(groups) == (16 if len(columns) > 1 else 8)
    for g, values in enumerate(groups):
        key = values if len(columns) > 1 else values[0]
        expect = hand.loc[[key]].iloc[0]
        assert by_group.loc[key, F.SELECTION_RATE] == pytest.approx(expect["sel"])
        assert by_group.loc[key, F.ACCURACY] == pytest.approx(expect["acc"])
        assert rates[F.SELECTION_RATE][g] == pytest.approx(expect["sel"])
        assert counts.n[g] == expect["n"]
        for ours, theirs in ((F.FALSE_POSITIVE_RATE, "fpr"), (F.FALSE_NEGATIVE_RATE, "fnr")):
            if np.isnan(expect[theirs]):
                assert np.isnan(rates[ours][g])
            else:
                assert by_group.loc[key, ours] == pytest.approx(expect[theirs])
                assert rates[ours][g] == pytest.approx(expect[theirs])
    # disparities: DP over all groups, EO over the groups with both classes
    dp_diff = hand["sel"].max() - hand["sel"].min()
    dp_ratio = hand["sel"].min() / hand["sel"].max()
    both = hand.dropna(subset=["fpr", "tpr"])
    eo = max(both["tpr"].max() - both["tpr"].min(), both["fpr"].max() - both["fpr"].min())
    got = F.disparities(y_true, y_pred, keys)
    assert np.isfinite(list(got.values())).all() and 0 < got[F.EO_DIFFERENCE] < 1
    assert got[F.DP_DIFFERENCE] == pytest.approx(dp_diff)
    assert got[F.DP_RATIO] == pytest.approx(dp_ratio)
    assert got[F.EO_DIFFERENCE] == pytest.approx(eo)
    eligible = np.array([(counts.tp[g] + counts.fn[g]) > 0 and (counts.fp[g] + counts.tn[g]) > 0
                         for g in range(len(groups))])
    vec = F.disparities_from_counts(counts, eligible)
    for name, value in got.items():
        assert float(vec[name]) == pytest.approx(value)


def test_empty_target_becomes_none_group_and_is_left_out_of_equalized_odds(hatecheck_predictions):
    frame, y_true, _ = hatecheck_predictions
    keys = F.group_keys(frame, ["target_ident"], drop_empty=False)
    assert (keys["target_ident"] == F.EMPTY_GROUP).sum() == (frame["target_ident"] == "").sum() > 0
    codes, groups = F.sensitive_codes(keys)
    eligible = F.eligible_rows(y_true, codes)
    none_code = groups.index((F.EMPTY_GROUP,))
    assert not eligible[codes == none_code].any()       # HateCheck's untargeted cases are all non-hateful
    assert F.group_keys(frame, ["target_ident"], drop_empty=True).shape[0] == (frame["target_ident"] != "").sum()


def test_bootstrap_counts_keep_group_sizes_and_bracket_point(hatecheck_predictions):
    frame, y_true, y_pred = hatecheck_predictions
    keys = F.group_keys(frame, ["target_ident"], drop_empty=False)
    codes, groups = F.sensitive_codes(keys)
    boot = F.bootstrap_counts(y_true, y_pred, codes, len(groups), resamples=200, seed=1)
    point = F.point_counts(y_true, y_pred, codes, len(groups))
    assert np.all(boot.n == point.n)
    assert np.all(boot.tp + boot.fp + boot.fn + boot.tn == boot.n)
    sel = boot.rates()[F.SELECTION_RATE]
    low, high = np.quantile(sel, [0.025, 0.975], axis=0)
    assert np.all((low <= point.rates()[F.SELECTION_RATE]) & (point.rates()[F.SELECTION_RATE] <= high))
    again = F.bootstrap_counts(y_true, y_pred, codes, len(groups), resamples=200, seed=1)
    assert np.array_equal(again.tp, boot.tp)


def test_missing_sensitive_column_names_column_and_file(tmp_path):
    cfg = F.FairnessConfig(sensitive_columns=["target_ident", "religion"])
    with pytest.raises(DataError, match=r"religion.*|test_suite_cases\.csv") as err:
        F.load_fairness_data(_context(tmp_path), cfg)
    assert "'religion'" in str(err.value) and "test_suite_cases.csv" in str(err.value)


def test_empty_dataset_is_a_data_error_naming_the_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("test_case,label_gold,target_ident\n")
    with pytest.raises(DataError, match="empty.csv"):
        F.load_fairness_data(_context(tmp_path), F.FairnessConfig(dataset=str(path)))


def test_positive_label_absent_from_label_column_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="label_gold.*'toxic'"):
        F.load_fairness_data(_context(tmp_path), F.FairnessConfig(positive_label="toxic"))


class KeywordClassifier:
    """A test double with the adapter's classify contract: 'negative' when a hateful keyword occurs."""

    labels = ["negative", "positive"]

    def classify(self, texts):
        hit = pd.Series(list(texts)).str.contains(r"hate|kill|disgust|scum|die", case=False, regex=True)
        p_neg = np.where(hit.to_numpy(), 0.9, 0.2)
        return np.stack([p_neg, 1 - p_neg], axis=1)


def test_part_numbers_match_hand_computation(tmp_path, hatecheck_predictions):
    frame, y_true, y_pred = hatecheck_predictions
    ctx = _context(tmp_path, KeywordClassifier())
    result = SuiteResult(suite="bias", suite_version="1.0", model="kw")
    F.FairnessPart().run(ctx, F.FairnessConfig(resamples=100), result)
    hand = _hand_rates(frame, y_true, y_pred, ["target_ident"])
    for ident, row in hand.iterrows():
        # each rate is a proportion of its own denominator, with that denominator's Wilson interval
        for name, col, n_col in ((F.SELECTION_RATE, "sel", "n"), (F.FALSE_POSITIVE_RATE, "fpr", "n_neg"),
                                 (F.FALSE_NEGATIVE_RATE, "fnr", "n_pos"), (F.ACCURACY, "acc", "n")):
            metric = result.metric(name, group={"target_ident": ident})
            if np.isnan(row[col]):
                assert metric is None              # undefined rate (no positives/negatives): not reported
                continue
            assert metric.value == pytest.approx(row[col]) and metric.n == row[n_col]
            assert metric.unit == UNIT_PROPORTION and metric.ci_method == "wilson"
            low, high = proportion_confint(round(row[col] * row[n_col]), row[n_col], method="wilson")
            assert (metric.ci_low, metric.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert result.metric(F.DP_DIFFERENCE).value == pytest.approx(hand["sel"].max() - hand["sel"].min())
    ratio = result.metric(F.DP_RATIO)
    assert ratio.value == pytest.approx(hand["sel"].min() / hand["sel"].max())
    assert (ratio.ideal, ratio.unit, ratio.higher_is_better) == (1.0, "ratio", True)
    assert result.metric(F.DP_DIFFERENCE).ideal == 0.0 and result.metric(F.DP_DIFFERENCE).unit == UNIT_PROPORTION
    both = hand.dropna(subset=["fpr", "tpr"])
    eo = result.metric(F.EO_DIFFERENCE)
    assert eo.value == pytest.approx(max(np.ptp(both["tpr"]), np.ptp(both["fpr"])))
    assert eo.n == both["n"].sum() and eo.ci_low <= eo.value <= eo.ci_high and 0 <= eo.nan_share <= 1
    assert any(f.metric == F.EO_DIFFERENCE and "target_ident: none" in f.message for f in result.findings)
    assert any("Proxy task" in f.message for f in result.findings)
    assert {v.type for v in result.views} == {"bar_chart", "table"}
    assert ctx.data.seen and next(iter(ctx.data.seen.values())).rows == len(frame)


def test_part_on_tiny_classifier_intersectional(tmp_path, tiny_classifier_dir):
    adapter = load_adapter("tiny", ModelSpec(path=str(tiny_classifier_dir)), prepared_dir=tmp_path, cache_dir=None)
    part = F.FairnessPart()
    assert part.unsupported_reason(adapter) is None
    cfg = F.FairnessConfig(limit=160, sensitive_columns=["target_ident", "direction"], resamples=100,
                           model_positive_label="positive")
    ctx = _context(tmp_path, adapter)
    result = SuiteResult(suite="bias", suite_version="1.0", model="tiny")
    part.run(ctx, cfg, result)
    frame, keys, y_true = F.load_fairness_data(ctx, cfg)
    y_pred = adapter.classify(frame["test_case"].tolist()).argmax(axis=1) == adapter.labels.index("positive")
    hand = _hand_rates(keys, y_true, y_pred, ["target_ident", "direction"])
    assert len(hand) > 8
    for (ident, direction), row in hand.iterrows():
        group = {"target_ident": ident, "direction": direction}
        metric = result.metric(F.SELECTION_RATE, group=group)
        assert metric is not None and metric.n == row["n"] and metric.group == group
        assert metric.value == pytest.approx(row["sel"])
    overall = result.metric(F.DP_DIFFERENCE)
    assert overall.value == pytest.approx(hand["sel"].max() - hand["sel"].min()) and overall.n == 160
    # HateCheck's direction is set by the label: no intersection holds both classes, so EO is undefined
    assert result.metric(F.EO_DIFFERENCE) is None
    assert any(f.metric == F.EO_DIFFERENCE and "undefined" in f.message for f in result.findings)
    with pytest.raises(ConfigError, match="model_positive_label"):
        part.run(ctx, F.FairnessConfig(limit=20, model_positive_label="hateful"), result)


def test_disparity_ci_contains_estimate_when_bootstrap_is_biased_upwards():
    rng = np.random.default_rng(0)
    draws = 0.3 + np.abs(rng.normal(0, 0.05, size=2000))     # every draw above the point estimate 0.3
    plain = F.percentile_ci(draws)
    assert plain[0] > 0.30
    assert F.percentile_ci(draws, point=0.3) == (0.3, plain[1])
    symmetric = rng.normal(0.5, 0.1, size=4000)
    assert F.percentile_ci(symmetric, point=0.5) == F.percentile_ci(symmetric)
    assert F.percentile_ci(np.array([np.nan])) == (None, None)
