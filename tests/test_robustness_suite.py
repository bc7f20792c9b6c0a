"""The robustness suite end to end on fake models with a known decision rule (fast): metrics,
outcomes, views, export, batching, budgets, the WordNet fallback, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from audit.config.schema import load_config
from audit.data.resolver import DataResolver
from audit.errors import ConfigError, DataError
from audit.results import (UNIT_PROPORTION, BarChartView, Condition, ExampleListView, LineChartView, SuiteResult,
                           TableView)
from audit.run.runner import Runner
from audit.stats import mcnemar
from audit.run.suite import Context
from audit.data.wordnet import DEBIAN_WORDNET_DIR, has_database
from suites.robustness.config import RobustnessConfig
from suites.robustness.export import EXPORT_FILE
from suites.robustness.metrics import (ATTACK_ACCURACY_UNDER_ATTACK, ATTACK_QUERIES, ATTACK_SUCCESS_RATE,
                                       PERTURB_ACCURACY, PERTURB_CHANGE)
from suites.robustness.suite import RobustnessSuite
from tests.robustness_fakes import (BagOfWordsCausalLM, BagOfWordsClassifier, BagOfWordsEncoder, FakeFactory,
                                    TableEncoder)

needs_wordnet = pytest.mark.skipif(not has_database(DEBIAN_WORDNET_DIR),
                                   reason="Debian's wordnet-base is not installed (make system-deps)")

POSITIVE = {"good": 2.0, "great": 3.0, "fine": 1.0, "moving": 1.5, "funny": 2.0, "brilliant": 3.0, "warm": 1.0}
NEGATIVE = {"bad": -2.0, "dull": -2.5, "boring": -3.0, "awful": -3.0, "tedious": -2.0, "weak": -1.5, "mess": -2.0}
WEIGHTS = {**POSITIVE, **NEGATIVE}
ROWS = [
    ("a good and moving film with a great cast", "positive"), ("a dull , boring mess of a movie", "negative"),
    ("funny , warm and brilliant from start to finish", "positive"), ("an awful , tedious script", "negative"),
    ("the acting is fine but the story is weak", "negative"), ("a brilliant and funny comedy", "positive"),
    ("boring characters in a bad plot", "negative"), ("great music and a good heart", "positive"),
    ("tedious and dull despite a fine actor", "negative"), ("warm , moving and good", "positive"),
    ("michael and sarah give a great performance", "positive"), ("it is not a bad film , just a weak one", "negative"),
]


def write_dataset(folder: Path, rows=ROWS, name: str = "data.jsonl") -> Path:
    path = folder / name
    path.write_text("".join(json.dumps({"id": f"r{i}", "text": t, "label": lab}) + "\n"
                            for i, (t, lab) in enumerate(rows)), encoding="utf-8")
    return path


def make_ctx(tmp_path: Path, adapter, config: dict, encoder=None) -> Context:
    resolver = DataResolver(config_dir=tmp_path, prepared_dir=tmp_path / "cache" / "prepared")
    return Context(model_name=adapter.name, adapter=adapter, config=RobustnessConfig.model_validate(config),
                   seed=0, data=resolver, artifacts_dir=tmp_path / "artifacts",
                   models=FakeFactory(encoder or BagOfWordsEncoder()))


def small_config(path: Path, **extra) -> dict:
    config = {"data": {"path": str(path)},
              "perturbations": {"limit": None, "names": ["typo_substitute", "case", "word_deletion",
                                                         "synonym_substitution", "name_swap"],
                                "sweep": {"perturbations": ["word_deletion"], "severities": [0.2, 0.5]}},
              "attacks": {"limit": 8, "word": {"query_budget": 40, "similarity_threshold": 0.3,
                                               "strict_similarity": 0.6},
                          "char": {"query_budget": 30}},
              "severity": {"typo_substitute": 0.3}}
    config.update(extra)
    return config


@pytest.fixture()
def classifier_run(tmp_path) -> tuple[SuiteResult, BagOfWordsClassifier, Context]:
    if not has_database(DEBIAN_WORDNET_DIR):
        pytest.skip("Debian's wordnet-base is not installed (make system-deps)")
    model = BagOfWordsClassifier(WEIGHTS)
    ctx = make_ctx(tmp_path, model, small_config(write_dataset(tmp_path)))
    return RobustnessSuite().run(ctx), model, ctx


def _metric(result: SuiteResult, name: str, condition=Condition.ORIGINAL, **group):
    found = result.metric(name, group or None, condition)
    assert found is not None, (name, group, condition)
    return found


def test_clean_and_perturbed_accuracy_match_the_model_by_hand(classifier_run):
    result, model, ctx = classifier_run
    order = np.random.default_rng(ctx.sub_seed("robustness", "subset")).permutation(len(ROWS))
    expected = np.mean([model.probs(ROWS[i][0]).argmax() == (ROWS[i][1] == "positive") for i in order])
    clean = _metric(result, PERTURB_ACCURACY)
    assert clean.value == pytest.approx(expected) and clean.n == len(ROWS) and clean.unit == UNIT_PROPORTION
    assert clean.ci_method == "wilson" and clean.ci_low <= clean.value <= clean.ci_high
    outcomes = {(o.metric, o.group_key, o.condition): o for o in result.outcomes}
    clean_out = outcomes[(PERTURB_ACCURACY, None, Condition.ORIGINAL)]
    assert np.mean(clean_out.values) == pytest.approx(clean.value) and len(set(clean_out.example_ids)) == len(ROWS)
    for name in ("typo_substitute", "case", "word_deletion", "synonym_substitution", "name_swap"):
        metric = _metric(result, PERTURB_ACCURACY, Condition.PERTURBED, perturbation=name)
        out = outcomes[(PERTURB_ACCURACY, f"perturbation={name}", Condition.PERTURBED)]
        assert out.example_ids == clean_out.example_ids and np.mean(out.values) == pytest.approx(metric.value)
        change = _metric(result, PERTURB_CHANGE, Condition.PERTURBED, perturbation=name)
        reference = mcnemar(np.array(clean_out.values, bool), np.array(out.values, bool))
        assert change.value == pytest.approx(metric.value - clean.value) == pytest.approx(reference.difference)
        assert (change.ci_low, change.ci_high) == pytest.approx((reference.ci_low, reference.ci_high))
    worst = _metric(result, PERTURB_ACCURACY, Condition.WORST_CASE)
    per_example = np.min([o.values for o in result.outcomes if o.metric == PERTURB_ACCURACY
                          and o.condition in (Condition.ORIGINAL, Condition.PERTURBED)
                          and (o.group is None or "severity" not in o.group)], axis=0)
    assert worst.value == pytest.approx(per_example.mean())
    # case changes do not move a lower-casing bag-of-words model
    assert _metric(result, PERTURB_ACCURACY, Condition.PERTURBED, perturbation="case").value == clean.value


def test_one_classify_batch_per_condition(classifier_run):
    result, model, _ = classifier_run
    full = [call for call in model.calls if len(call) == len(ROWS)]
    # clean, 5 perturbations, 2 sweep severities (the attacks send smaller batches)
    assert len(full) == 1 + 5 + 2
    assert _metric(result, PERTURB_ACCURACY, Condition.PERTURBED, perturbation="word_deletion", severity="0.5")
    [line] = [v for v in result.views if isinstance(v, LineChartView)]
    assert line.series[0].x == [0.0, 0.1, 0.2, 0.5]     # 0.1: the main condition
    [bars] = [v for v in result.views if isinstance(v, BarChartView)]
    assert bars.reference == _metric(result, PERTURB_ACCURACY).value and bars.bars[0].label == "clean"
    assert bars.bars[-1].label == "worst case" and len(bars.bars) == 7


def test_attack_metrics_budgets_and_export(classifier_run):
    result, model, ctx = classifier_run
    details = result.details["attacks"]
    for attack, budget in (("word", 40), ("char", 30)):
        info = details[attack]
        assert info["examples"] == 8 and info["requests"] <= budget * info["attacked"]
        success = _metric(result, ATTACK_SUCCESS_RATE, Condition.UNDER_ATTACK, attack=attack)
        assert success.n == info["attacked"] and success.value == pytest.approx(info["succeeded"] / info["attacked"])
        under = _metric(result, ATTACK_ACCURACY_UNDER_ATTACK, Condition.UNDER_ATTACK, attack=attack)
        assert under.value == pytest.approx((info["attacked"] - info["succeeded"]) / 8)
        queries = _metric(result, ATTACK_QUERIES, Condition.UNDER_ATTACK, attack=attack)
        assert queries.value == pytest.approx(info["requests"] / info["attacked"])
    # overall (no group): an example is broken when either attack flipped it
    flipped = {}
    for o in result.outcomes:
        if o.metric == ATTACK_ACCURACY_UNDER_ATTACK and o.group is not None:
            for example_id, value in zip(o.example_ids, o.values):
                flipped[example_id] = min(flipped.get(example_id, 1.0), value)
    overall = _metric(result, ATTACK_ACCURACY_UNDER_ATTACK, Condition.UNDER_ATTACK)
    assert overall.value == pytest.approx(np.mean(list(flipped.values()))) and overall.n == 8
    assert overall.value <= min(_metric(result, ATTACK_ACCURACY_UNDER_ATTACK, Condition.UNDER_ATTACK, attack=a).value
                                for a in ("word", "char"))
    rows = [json.loads(line) for line in (ctx.artifacts_dir / EXPORT_FILE).read_text().splitlines()]
    assert len(rows) == details["export"]["rows"] == details["word"]["succeeded"] + details["char"]["succeeded"] > 0
    for row in rows:
        assert model.probs(row["adversarial"]).argmax() != ["negative", "positive"].index(row["label"])
        assert row["adversarial_prediction"] != row["label"] and row["queries"]["requests"] <= 40
        for change in row["changes"]:
            assert row["adversarial"][change["start"]:change["end"]] == change["new"]
    [shown] = [v for v in result.views if isinstance(v, ExampleListView) and "adversarial" in v.title]
    assert all(ex.spans for ex in shown.examples)
    assert any(isinstance(v, TableView) and v.title == "adversarial attacks" for v in result.views)
    assert result.details["lexicon"]["source"] == "wordnet"


def test_embedding_fallback_when_wordnet_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr("suites.robustness.lexicon_setup.load_wordnet", lambda *a, **k: None)
    table = {"good": [1, 0.1, 0], "fine": [0.95, 0.2, 0], "great": [0.9, 0, 0.3], "dull": [0, 1, 0.1],
             "boring": [0.05, 0.95, 0.1], "tedious": [0, 0.9, 0.3], "film": [0, 0, 1], "movie": [0.05, 0, 0.98]}
    model = BagOfWordsClassifier(WEIGHTS)
    ctx = make_ctx(tmp_path, model, small_config(write_dataset(tmp_path), lexicon={"neighbour_min_similarity": 0.9,
                                                                                     "vocabulary_size": 2000}),
                   encoder=TableEncoder(table))
    result = RobustnessSuite().run(ctx)
    assert result.details["lexicon"]["source"] == "embedding"
    [finding] = [f for f in result.findings if "WordNet was not found" in f.message]
    assert finding.severity.value == "warn" and "wordnet-base" in finding.message
    assert _metric(result, PERTURB_ACCURACY, Condition.PERTURBED, perturbation="synonym_substitution")


def test_wordnet_required_but_missing_is_a_data_error(tmp_path, monkeypatch):
    monkeypatch.setattr("suites.robustness.lexicon_setup.load_wordnet", lambda *a, **k: None)
    ctx = make_ctx(tmp_path, BagOfWordsClassifier(WEIGHTS),
                   small_config(write_dataset(tmp_path), lexicon={"source": "wordnet"}))
    with pytest.raises(DataError, match="robustness.lexicon.source: WordNet not found.*wordnet-base"):
        RobustnessSuite().run(ctx)


@needs_wordnet
def test_multiple_choice_on_a_causal_lm(tmp_path):
    model = BagOfWordsCausalLM({"good": 1.0, "bad": -1.0, "best": 2.0, "worst": -2.0, "dull": -1.5, "funny": 1.0,
                                "fun": 1.0, "boring": -1.5, "mess": -1.0, "beautiful": 1.5, "fails": -1.0})
    ctx = make_ctx(tmp_path, model, {"multiple_choice": {"limit": 30, "names": ["typo_delete", "expansion",
                                                                               "synonym_substitution"]}})
    result = RobustnessSuite().run(ctx)
    assert result.details["parts"]["ran"] == ["multiple_choice"]
    assert [f.evidence["part"] for f in result.findings if "skipped" in f.message] == ["perturbations", "attacks"]
    assert len(model.calls) == 4 and all(len(c) == 60 for c in model.calls)
    assert model.calls[0][0][0].startswith("Review: ") and model.calls[0][0][0].endswith("\nSentiment:")
    assert {c for _, c in model.calls[0]} == {" negative", " positive"}
    clean = _metric(result, PERTURB_ACCURACY)
    prompts = [p for p, c in model.calls[0] if c == " positive"]
    out = next(o for o in result.outcomes if o.metric == PERTURB_ACCURACY and o.condition == Condition.ORIGINAL)
    labels = [0 if i.startswith("neg") else 1 for i in out.example_ids]
    by_hand = np.mean([(model.score(p) > 0) == bool(y) for p, y in zip(prompts, labels)])
    assert clean.n == 30 and clean.value == pytest.approx(by_hand)


# ------------------------------------------------------------------ bad input


def test_empty_text_names_the_file_and_row(tmp_path):
    path = write_dataset(tmp_path, ROWS[:3] + [("   ", "positive")] + ROWS[3:])
    ctx = make_ctx(tmp_path, BagOfWordsClassifier(WEIGHTS), small_config(path, parts=["perturbations"]))
    with pytest.raises(DataError, match=rf"robustness.data: {path}: row 4 \(id r3\): column 'text' is blank"):
        RobustnessSuite().run(ctx)


def test_non_utf8_file_names_the_line(tmp_path):
    path = write_dataset(tmp_path)
    raw = path.read_bytes().splitlines(keepends=True)
    raw[2] = raw[2].replace(b"funny", b"fun\xe9ny")
    path.write_bytes(b"".join(raw))
    ctx = make_ctx(tmp_path, BagOfWordsClassifier(WEIGHTS), small_config(path, parts=["perturbations"]))
    with pytest.raises(DataError, match=rf"{path}: line 3, column \d+: not UTF-8 \(byte 0xe9\)"):
        RobustnessSuite().run(ctx)


def test_unknown_label_names_the_row(tmp_path):
    path = write_dataset(tmp_path, ROWS[:2] + [("fine", "neutral")])
    ctx = make_ctx(tmp_path, BagOfWordsClassifier(WEIGHTS), small_config(path, parts=["perturbations"]))
    with pytest.raises(DataError, match=r"row 3 \(id r2\): label 'neutral'"):
        RobustnessSuite().run(ctx)


@pytest.mark.parametrize("config, key, message", [
    ({"perturbations": {"names": ["typo_substitute", "typos"]}}, "perturbations.names", "unknown perturbation 'typos'"),
    ({"severity": {"shouting": 0.5}}, "severity", "unknown perturbation 'shouting'"),
    ({"attacks": {"word": {"query_budget": 0}}}, "attacks.word.query_budget", "greater than 0"),
    ({"attacks": {"char": {"query_budget": -3}}}, "attacks.char.query_budget", "greater than 0"),
    ({"multiple_choice": {"names": ["typo"]}}, "multiple_choice.names", "unknown perturbation 'typo'"),
    ({"parts": ["attack"]}, "parts", "unknown part 'attack'"),
    ({"severity": {"case": 1.5}}, "severity", "must be in [0, 1]"),
    ({"attacks": {"word": {"budget": 10}}}, "attacks.word.budget", "unknown key"),
])
def test_bad_config_is_a_config_error_naming_the_key(tmp_path, config, key, message):
    with pytest.raises(ValidationError):
        RobustnessConfig.model_validate(config)
    text = json.dumps({"models": {"m": {"path": str(tmp_path)}}, "suites": [{"suite": "robustness", "config": config}]})
    path = tmp_path / "audit.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        Runner(load_config(path), tmp_path / "out").plan()
    assert f"suites[0].config.{key}" in str(caught.value) and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path, capsys, tiny_classifier_dir):
    import audit.cli.app as cli

    config = tmp_path / "audit.yaml"
    config.write_text(json.dumps({"models": {"m": {"path": str(tiny_classifier_dir)}},
                                  "suites": [{"suite": "robustness", "config": {"attacks": {"word": {
                                      "query_budget": 0}}}}]}))
    assert cli.main([str(config), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "attacks.word.query_budget" in err and err.strip().count("\n") == 0


def test_bad_data_through_the_cli_exits_2_naming_file_and_line(tmp_path, capsys, tiny_classifier_dir):
    import audit.cli.app as cli

    path = write_dataset(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"brilliant", b"brilli\xffant", 1))
    config = tmp_path / "audit.yaml"
    config.write_text(json.dumps({"models": {"m": {"path": str(tiny_classifier_dir)}},
                                  "suites": [{"suite": "robustness", "config": {
                                      "parts": ["perturbations"], "data": {"path": str(path)},
                                      "perturbations": {"names": ["case"], "sweep": None}}}]}))
    out = tmp_path / "out"
    assert cli.main([str(config), "--out", str(out), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    [line] = captured.err.strip().splitlines()              # refused by the preflight, before any model loads
    assert f"{path}: line 3" in line and "not UTF-8" in line and not (out / "results.json").exists()


def test_results_carry_what_a_recomputation_needs(classifier_run):
    """#17: the subset's ids and seed, every successful adversarial example in examples[], the export path
    relative to the run folder."""
    result, _, ctx = classifier_run
    subset = result.details["subset"]
    rows = [json.loads(line) for line in Path(subset["data"]).read_text().splitlines() if line.strip()]
    order = np.random.default_rng(subset["seed"]).permutation(len(rows))
    assert subset["ids"] == [rows[i]["id"] for i in order]                    # redrawn from the seed alone
    attacks = result.details["attacks"]
    assert attacks["subset"]["ids"] == subset["ids"][:attacks["subset"]["limit"]]
    successes = attacks["word"]["succeeded"] + attacks["char"]["succeeded"]
    adversarial = [e for e in result.examples if any(t.endswith(" attack") for t in e.tags)]
    assert len(adversarial) == successes > 0
    export = attacks["export"]
    assert export["relative_to"] == "results.json" and not Path(export["path"]).is_absolute()
    assert (ctx.artifacts_dir.parent.parent / export["path"]).is_file()
