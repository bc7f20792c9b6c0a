"""The accuracy suite on tiny real models: classifier datasets and lm-eval tasks through the adapter."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.metrics import accuracy_score, f1_score
from statsmodels.stats.proportion import proportion_confint

from audit.models.adapters.base import Capability
from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec
from audit.data.labelled import LabelResolver
from audit.data.resolver import DataResolver
from audit.errors import CapabilityError, ConfigError, DataError
from audit.results import UNIT_PROPORTION, BarChartView, LineChartView, MatrixHeatmapView, SuiteResult
from audit.run.suite import Context
from suites.accuracy.classification import ACCURACY, ECE, MACRO_F1, RECALL
from suites.accuracy.lm_eval_bridge import AdapterLM
from suites.accuracy.lm_eval_part import TASKS_FOLDER, lm_eval_metric_name
from suites.accuracy.suite import AccuracyConfig, AccuracySuite

TEXTS = ["a wonderful, moving film", "dull and far too long", "the best thing this year",
         "i hated every minute", "charming cast and a sharp script", "a mess from start to finish",
         "quietly brilliant", "boring", "funny and warm", "pointless sequel"]
LABELS = ["positive", "negative", "1", "0", "positive", "negative", "1", "0", "positive", "negative"]
MIXED_MAP = {"positive": "positive", "negative": "negative", "1": "positive", "0": "negative"}


class CountingAdapter:
    """Delegates to a real adapter and counts the batched calls (to check one call per dataset)."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.calls: list[tuple[str, int]] = []

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def classify(self, texts):
        self.calls.append(("classify", len(texts)))
        return self._inner.classify(texts)

    def loglikelihood(self, requests):
        self.calls.append(("loglikelihood", len(requests)))
        return self._inner.loglikelihood(requests)


@pytest.fixture(scope="module")
def classifier(tiny_classifier_dir, tmp_path_factory):
    return load_adapter("tiny-clf", ModelSpec(path=str(tiny_classifier_dir)),
                        prepared_dir=tmp_path_factory.mktemp("prep"), cache_dir=None)


@pytest.fixture(scope="module")
def causal(tiny_causal_dir, tmp_path_factory):
    return load_adapter("tiny-lm", ModelSpec(path=str(tiny_causal_dir)),
                        prepared_dir=tmp_path_factory.mktemp("prep"), cache_dir=None)


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "text,label") -> Path:
    path.write_text(header + "\n" + "".join(f'"{t}",{label}\n' for t, label in rows))
    return path


def run_suite(adapter, config: dict, tmp_path: Path, seed: int = 0) -> SuiteResult:
    cfg = AccuracyConfig.model_validate(config)
    ctx = Context(model_name="m", adapter=adapter, config=cfg, seed=seed,
                  data=DataResolver(config_dir=tmp_path, prepared_dir=tmp_path), artifacts_dir=tmp_path / "art")
    return AccuracySuite().run(ctx)


def hand_ece(conf: np.ndarray, correct: np.ndarray, bins: int) -> float:
    """Independent ECE: loop over bins with explicit (lo, hi] edges."""
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = (conf > lo) & (conf <= hi) if b else (conf >= lo) & (conf <= hi)
        if inside.any():
            total += abs(correct[inside].mean() - conf[inside].mean()) * inside.sum() / conf.size
    return total


def test_classifier_dataset_metrics_match_hand_recomputation(classifier, tmp_path):
    write_csv(tmp_path / "data.csv", list(zip(TEXTS, LABELS)))
    adapter = CountingAdapter(classifier)
    result = run_suite(adapter, {"datasets": [{"name": "toy", "path": "data.csv", "label_map": MIXED_MAP}],
                                 "ece_bins": 5}, tmp_path)
    assert adapter.calls == [("classify", len(TEXTS))]  # one batched call

    probs = np.asarray(classifier.classify(TEXTS), dtype=float)
    y_true = np.array([0 if lab in ("negative", "0") else 1 for lab in LABELS])
    y_pred = probs.argmax(axis=1)
    acc = result.metric(ACCURACY)
    assert acc.n == len(TEXTS)
    assert acc.value == pytest.approx(accuracy_score(y_true, y_pred))
    assert acc.ci_low <= acc.value <= acc.ci_high
    assert result.metric(MACRO_F1).value == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert result.metric(ECE).value == pytest.approx(hand_ece(probs.max(axis=1), (y_true == y_pred) * 1.0, 5))
    assert result.metric(ECE).higher_is_better is False
    # proportions are fractions with Wilson intervals (statsmodels as the independent reference)
    assert acc.unit == UNIT_PROPORTION and acc.ci_method == "wilson"
    low, high = proportion_confint(int((y_true == y_pred).sum()), len(TEXTS), method="wilson")
    assert (acc.ci_low, acc.ci_high) == (pytest.approx(low), pytest.approx(high))
    # the only dataset is also reported under its group; per-label recall under {"label": X}
    assert result.metric(ACCURACY, {"dataset": "toy"}).value == acc.value
    assert result.metric(ACCURACY, "dataset=toy") is result.metric(ACCURACY, {"dataset": "toy"})
    neg_recall = result.metric(RECALL, {"label": "negative"})
    assert neg_recall.n == 5 and neg_recall.value == pytest.approx((y_pred[y_true == 0] == 0).mean())
    assert neg_recall.unit == UNIT_PROPORTION and neg_recall.ci_low < neg_recall.ci_high

    outcome = next(o for o in result.outcomes if o.metric == ACCURACY and o.group is None)
    assert outcome.example_ids == [str(i) for i in range(len(TEXTS))]
    assert outcome.values == list((y_true == y_pred).astype(float))

    kinds = {type(v) for v in result.views}
    assert {LineChartView, MatrixHeatmapView, BarChartView} <= kinds
    heat = next(v for v in result.views if isinstance(v, MatrixHeatmapView))
    assert np.sum(heat.values) == len(TEXTS)
    mistakes = [e for e in result.examples if "confident_mistake" in e.tags]
    assert len(mistakes) == min(10, int((y_true != y_pred).sum()))
    confidences = [e.fields["confidence"] for e in mistakes]
    assert confidences == sorted(confidences, reverse=True)
    assert all(e.fields["true"] != e.fields["predicted"] for e in mistakes)
    SuiteResult.model_validate(result.model_dump(mode="json"))  # round-trips as JSON


def test_two_datasets_label_map_ids_and_limit(classifier, tmp_path):
    write_csv(tmp_path / "a.csv", list(zip(TEXTS, LABELS)))
    rows = [{"id": f"r{i}", "sentence": t, "y": "pos" if i % 2 == 0 else "neg"} for i, t in enumerate(TEXTS)]
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {"datasets": [
        {"name": "a", "path": "a.csv", "label_map": MIXED_MAP},
        {"name": "b", "path": "b.jsonl", "text_column": "sentence", "label_column": "y",
         "label_map": {"pos": "positive", "neg": "negative"}, "limit": 6, "seed": 3}]}
    result = run_suite(classifier, config, tmp_path)
    assert result.metric(ACCURACY).n == len(TEXTS)            # headline = first dataset
    b = result.metric(ACCURACY, {"dataset": "b"})
    assert b.n == 6
    b_outcomes = next(o for o in result.outcomes if (o.metric, o.group) == (ACCURACY, {"dataset": "b"}))
    assert len(b_outcomes.example_ids) == 6 and all(i.startswith("r") for i in b_outcomes.example_ids)
    # the same seed gives the same subset
    again = run_suite(classifier, config, tmp_path)
    assert next(o for o in again.outcomes if (o.metric, o.group) == (ACCURACY, {"dataset": "b"})).example_ids == \
        b_outcomes.example_ids
    recall = result.metric(RECALL, {"dataset": "b", "label": "positive"})
    assert recall is not None and recall.group == {"dataset": "b", "label": "positive"}
    assert len([m for m in result.metrics if m.name == ACCURACY and m.group is None]) == 1


def test_zero_one_labels_are_not_guessed_as_class_ids_for_named_labels(classifier, tmp_path):
    write_csv(tmp_path / "01.csv", [("good", "1"), ("bad", "0")])
    with pytest.raises(DataError, match=r"01\.csv: row 1 \(id 0\): label 1 .*class index.*label_map"):
        run_suite(classifier, {"datasets": [{"name": "z", "path": "01.csv"}]}, tmp_path)
    mapped = run_suite(classifier, {"datasets": [{"name": "z", "path": "01.csv",
                                                 "label_map": {"1": "positive", "0": "negative"}}]}, tmp_path)
    assert mapped.metric(ACCURACY).n == 2
    assert LabelResolver(["LABEL_0", "LABEL_1"], None)(1) == 1       # unnamed labels: the index is the name
    assert LabelResolver(["negative", "positive"], None)(1) is None


def test_blank_text_is_refused_or_dropped_and_counted(classifier, tmp_path):
    write_csv(tmp_path / "blank.csv", [("good", "positive"), ("  ", "negative"), ("bad", "negative")])
    with pytest.raises(DataError, match=r"blank\.csv: row 2 \(id 1\): column 'text' is blank.*on_blank: drop"):
        run_suite(classifier, {"datasets": [{"name": "b", "path": "blank.csv"}]}, tmp_path)
    dropped = run_suite(classifier, {"datasets": [{"name": "b", "path": "blank.csv", "on_blank": "drop"}]}, tmp_path)
    assert dropped.metric(ACCURACY).n == 2
    assert dropped.details["subsets"]["b"]["dropped_blank_rows"] == 1
    assert dropped.details["subsets"]["b"]["ids"] == ["0", "2"]


def test_unknown_label_names_the_row(classifier, tmp_path):
    write_csv(tmp_path / "bad.csv", [("good", "positive"), ("bad", "negative"), ("meh", "neutral")])
    with pytest.raises(DataError, match=r"bad\.csv.*row 3.*'neutral'"):
        run_suite(classifier, {"datasets": [{"name": "bad", "path": "bad.csv"}]}, tmp_path)


def test_out_of_range_index_and_missing_column(classifier, tmp_path):
    write_csv(tmp_path / "idx.csv", [("good", "1"), ("bad", "7")])
    with pytest.raises(DataError, match=r"row 2"):
        run_suite(classifier, {"datasets": [{"name": "i", "path": "idx.csv"}]}, tmp_path)
    write_csv(tmp_path / "cols.csv", [("good", "1")], header="sentence,label")
    with pytest.raises(DataError, match=r"cols\.csv.*'text'"):
        run_suite(classifier, {"datasets": [{"name": "c", "path": "cols.csv"}]}, tmp_path)
    with pytest.raises(DataError, match="file not found"):
        run_suite(classifier, {"datasets": [{"name": "m", "path": "missing.csv"}]}, tmp_path)


def test_config_validation_and_capabilities():
    with pytest.raises(ValidationError):
        AccuracyConfig.model_validate({"datasets": [{"name": "a", "path": "x.csv", "colour": "red"}]})
    with pytest.raises(ValidationError):
        AccuracyConfig.model_validate({})
    with pytest.raises(ValidationError):
        AccuracyConfig.model_validate({"datasets": [{"name": "a", "path": "x"}, {"name": "a", "path": "y"}]})
    suite = AccuracySuite()
    both = AccuracyConfig.model_validate({"datasets": [{"name": "a", "path": "x"}],
                                          "lm_eval": {"tasks": ["rt_polarity_mc"]}})
    assert suite.required_capabilities(both) == {Capability.CLASSIFY, Capability.LOGLIKELIHOOD}
    only_lm = AccuracyConfig.model_validate({"lm_eval": {"tasks": ["rt_polarity_mc"]}})
    assert suite.required_capabilities(only_lm) == {Capability.LOGLIKELIHOOD}


def _first_docs(path: Path, n: int) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()[:n]]


def test_lm_eval_tasks_match_hand_argmax(causal, tmp_path):
    adapter = CountingAdapter(causal)
    config = {"lm_eval": {"tasks": ["bbq_disambig_mc", "rt_polarity_mc"], "limit": 5}}
    result = run_suite(adapter, config, tmp_path)
    assert [c[0] for c in adapter.calls] == ["loglikelihood"]  # every request of both tasks in one call
    assert adapter.calls[0][1] == 5 * 3 + 5 * 2

    folder = tmp_path / "art" / TASKS_FOLDER
    prompts = {
        "bbq_disambig_mc": lambda d: (f"{d['context']}\nQuestion: {d['question']}\nAnswer:", d["choices"]),
        "rt_polarity_mc": lambda d: (f"Review: {d['sentence']}\nSentiment:", ["negative", "positive"]),
    }
    for task, prompt in prompts.items():
        docs = _first_docs(folder / f"{task}.jsonl", 5)
        acc = result.metric(lm_eval_metric_name(task, "acc"))
        assert acc.n == 5 and 0.0 <= acc.value <= 1.0
        assert acc.ci_low <= acc.value <= acc.ci_high
        # independent check: score every choice ourselves and take the argmax
        hand, hand_norm = {}, {}
        for doc in docs:
            context, choices = prompt(doc)
            lls = np.array([r.logprob for r in causal.loglikelihood([(context, " " + c) for c in choices])])
            hand[doc["id"]] = float(lls.argmax() == doc["label"])
            hand_norm[doc["id"]] = float((lls / np.array([len(c) for c in choices])).argmax() == doc["label"])
        assert acc.value == pytest.approx(np.mean(list(hand.values())))
        for metric, expected in (("acc", hand), ("acc_norm", hand_norm)):
            outcome = next(o for o in result.outcomes if o.metric == lm_eval_metric_name(task, metric))
            assert dict(zip(outcome.example_ids, outcome.values)) == expected
        assert acc.unit == UNIT_PROPORTION and acc.ci_method == "wilson"
        if task == "bbq_disambig_mc":  # per-category breakdown: group {"category": X}
            for category in {d["category"] for d in docs}:
                mine = [hand[d["id"]] for d in docs if d["category"] == category]
                m = result.metric(acc.name, {"category": category})
                assert m.n == len(mine) and m.value == pytest.approx(np.mean(mine))
                # Wilson, never the collapsed [v, v] a bootstrap gives on a tiny group
                assert m.ci_low < m.ci_high and m.unit == UNIT_PROPORTION
    assert not [f for f in result.findings if f.severity.value != "info"]
    # #17: the documents are regenerated from results.json alone (the recorded task seed), same order
    from audit.data.tasks import SHIPPED_TASKS

    seeds = result.details["lm_eval"]["task_seeds"]
    for task in prompts:
        docs = SHIPPED_TASKS[task].build(DataResolver(config_dir=tmp_path, prepared_dir=tmp_path), seeds[task])
        outcome = next(o for o in result.outcomes if o.metric == lm_eval_metric_name(task, "acc"))
        assert [str(d["id"]) for d in docs[:5]] == [str(i) for i in outcome.example_ids]


def test_lm_eval_user_task_from_include_path(causal, tmp_path):
    data = tmp_path / "user" / "docs.jsonl"
    data.parent.mkdir()
    docs = [{"q": "2 + 2 =", "choices": [" 4", " 5"], "gold": 0}, {"q": "sky is", "choices": [" blue", " red"], "gold": 1}]
    data.write_text("".join(json.dumps(d) + "\n" for d in docs))
    (tmp_path / "user" / "my_task.yaml").write_text(
        "task: my_task\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
        f"    test: {data}\ntest_split: test\noutput_type: multiple_choice\n"
        "doc_to_text: '{{q}}'\ndoc_to_choice: choices\ndoc_to_target: gold\n"
        "metric_list:\n  - metric: acc\n")
    helper = tmp_path / "user" / "utils.py"     # what a `!function utils.x` line would import
    helper.write_text("def x(doc):\n    return doc\n")
    cfg = AccuracyConfig.model_validate({"lm_eval": {"tasks": ["my_task"], "include_path": "user"}})
    data = DataResolver(config_dir=tmp_path, prepared_dir=tmp_path)
    result = AccuracySuite().run(Context(model_name="m", adapter=causal, config=cfg, seed=0, data=data,
                                         artifacts_dir=tmp_path / "art"))
    # include_path is trusted code: every file under it is hashed into provenance
    recorded = {Path(k).name: v.sha256 for k, v in data.seen.items()}
    assert {"my_task.yaml", "docs.jsonl", "utils.py"} <= set(recorded)
    assert recorded["utils.py"] == hashlib.sha256(helper.read_bytes()).hexdigest()
    acc = result.metric(lm_eval_metric_name("my_task", "acc"))
    assert acc.n == 2
    expected = []
    for d in docs:
        lls = [r.logprob for r in causal.loglikelihood([(d["q"], " " + c) for c in d["choices"]])]
        expected.append(float(np.argmax(lls) == d["gold"]))
    assert acc.value == pytest.approx(np.mean(expected))


def test_lm_eval_unknown_task_and_generation(causal, tmp_path):
    with pytest.raises(ConfigError, match="no_such_task"):
        run_suite(causal, {"lm_eval": {"tasks": ["no_such_task"], "include_path": "."}}, tmp_path)
    with pytest.raises(CapabilityError, match="generate_until"):
        AdapterLM(causal).generate_until([object()])


@pytest.mark.slow
def test_real_models_default_accuracy_configs(prepared_dir, tmp_path):
    """The default config's accuracy blocks on the real prepared models."""
    sentiment = load_adapter("minilm-sentiment", ModelSpec(path="prepared:minilm-sentiment"),
                             prepared_dir=prepared_dir, cache_dir=None)
    cfg = AccuracyConfig.model_validate({"datasets": [{"name": "rt", "path": "prepared:rt_polarity/test.jsonl"}]})
    data = DataResolver(config_dir=tmp_path, prepared_dir=prepared_dir)
    result = AccuracySuite().run(Context(model_name="minilm-sentiment", adapter=sentiment, config=cfg, seed=0,
                                         data=data, artifacts_dir=tmp_path / "a"))
    acc = result.metric(ACCURACY)
    assert acc.n >= 1000 and acc.value > 0.7 and acc.ci_high - acc.ci_low < 0.1
    assert 0.0 <= result.metric(ECE).value < 0.2

    lm = load_adapter("smollm2-135m", ModelSpec(path="prepared:smollm2-135m"), prepared_dir=prepared_dir,
                      cache_dir=None)
    cfg = AccuracyConfig.model_validate({"lm_eval": {"tasks": ["rt_polarity_mc"], "limit": 40}})
    result = AccuracySuite().run(Context(model_name="smollm2-135m", adapter=lm, config=cfg, seed=0,
                                         data=data, artifacts_dir=tmp_path / "b"))
    acc = result.metric(lm_eval_metric_name("rt_polarity_mc", "acc"))
    assert acc.n == 40 and 0.0 <= acc.value <= 1.0


def test_shipped_task_folder_is_an_lm_eval_folder_with_a_seeded_loader(tmp_path):
    """#17: lm-eval loads audit/data/tasks as it is (its custom_dataset hook, seed from --metadata) with
    the documents the run's builder makes for that seed; the run writes a JSON copy, seed in metadata."""
    from lm_eval.tasks import TaskManager, get_task_dict

    from audit.data.tasks import SHIPPED_TASKS, TASKS_DIR, materialize_task

    data = DataResolver(config_dir=tmp_path, prepared_dir=tmp_path)
    manager = TaskManager(include_path=[str(TASKS_DIR)], include_defaults=False, metadata={"seed": 7})
    loaded = get_task_dict(list(SHIPPED_TASKS), manager)
    for name, task in SHIPPED_TASKS.items():
        docs = task.build(data, 7)
        assert [d["id"] for d in list(loaded[name].test_docs())[:5]] == [d["id"] for d in docs[:5]]
        assert [d["id"] for d in task.build(data, 8)[:5]] != [d["id"] for d in docs[:5]]
        written = materialize_task(task, data, tmp_path / "run", 7)
        assert _first_docs(written.with_suffix(".jsonl"), 3) == docs[:3] and "seed: 7" in written.read_text()
