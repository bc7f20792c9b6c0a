"""ExplainabilitySuite end to end: the bag-of-words fake (known truth), tiny real models, bad input, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from audit.models.resolve import load_adapter
from audit.cli.app import main
from audit.config.schema import ModelSpec
from audit.data.resolver import DataResolver
from audit.errors import ConfigError, DataError
from audit.results import SuiteResult, Verdict
from audit.run.suite import Context
from suites.explainability import assemble as M
from suites.explainability.config import METHODS, ExplainabilityConfig
from suites.explainability.suite import ExplainabilitySuite
from suites.explainability.planning import BUDGET_DETAIL
from tests.explain_fakes import BowAdapter

WEIGHTS = {"brilliant": 0.15, "moving": 0.1, "superb": 0.12, "dull": -0.2, "tedious": -0.15, "awful": -0.18}
ROWS = [("a", "a brilliant and moving story about a family", "positive"),
        ("b", "dull tedious and awful from start to finish", "negative"),
        ("c", "superb acting saves a story that is otherwise dull", "positive"),
        ("d", "the plot is tedious but the cast is brilliant", "positive"),
        ("e", "awful dialogue , dull pacing , nothing else", "negative"),
        ("f", "moving and superb , a brilliant little film", "positive")]
SMALL = {"shap": {"max_evals": 120}, "lime": {"num_samples": 150}, "integrated_gradients": {"steps": 4}}


def _csv(tmp_path: Path, rows=ROWS) -> Path:
    path = tmp_path / "reviews.csv"
    path.write_text("id,text,label\n" + "".join(f'{i},"{t}",{label}\n' for i, t, label in rows))
    return path


def _run(adapter, tmp_path: Path, config: dict, seed: int = 0) -> SuiteResult:
    ctx = Context(model_name="m", adapter=adapter, config=ExplainabilityConfig.model_validate(config), seed=seed,
                  data=DataResolver(config_dir=tmp_path, prepared_dir=tmp_path), artifacts_dir=tmp_path / "art")
    result = ExplainabilitySuite().run(ctx)
    return SuiteResult.model_validate_json(result.model_dump_json())   # what results.json keeps


def _config(tmp_path: Path, **extra) -> dict:
    return {"examples": {"dataset": {"path": str(_csv(tmp_path))}, "n": 6}, **SMALL, **extra}


def test_bag_of_words_model_all_methods_metrics_views(tmp_path):
    adapter = BowAdapter(WEIGHTS)
    result = _run(adapter, tmp_path, _config(tmp_path))
    for method in METHODS + ("random",):
        comp = result.metric(M.COMPREHENSIVENESS, {"method": method})
        assert comp is not None and comp.n == 6 and comp.ci_low <= comp.value <= comp.ci_high
        assert result.metric(M.SUFFICIENCY, {"method": method}) is not None
    for method in ("shap", "lime", "integrated_gradients", "occlusion"):
        assert result.metric(M.COMPREHENSIVENESS_GAIN, {"method": method}).ci_low > 0
    assert result.metric(M.STABILITY, {"method": "shap"}).value > 0.9
    assert result.metric(M.IG_GAP, M.IG_GROUP).value < 1e-3
    # n = 6 is below what the chance test needs (2^-6 > alpha / 5): every verdict is inconclusive, none passes
    chance = [f for f in result.findings if "beats_chance" in f.evidence]
    assert len(chance) == 5 and all(f.verdict == Verdict.INCONCLUSIVE and f.power.can_test is False
                                    for f in chance)
    assert result.metric(M.AGREEMENT, {"method_a": "shap", "method_b": "occlusion"}).value == pytest.approx(1.0)
    assert result.metric(M.SECONDS, {"method": "lime"}).unit == "s"
    # precision: the mask token changes nothing for this model; resolved SHAP does not depend on its seed
    for method in ("shap", "lime", "occlusion"):
        assert result.metric("explain.masking_agreement", {"method": method, "masking": "mask"}).value > 0.99
    assert result.metric("explain.seed_stability", {"method": "shap"}).value == pytest.approx(1.0)
    assert result.metric("explain.seed_stability", {"method": "lime"}).value < 1.0
    assert result.details["settings"]["shap"]["special_tokens_in_clustering"] is False
    assert result.details[BUDGET_DETAIL]["total_inputs"] > 0 and result.details["checks"]["randomisation"]["skipped"]
    gains = {f.evidence["method"]: f.evidence["gain"] for f in chance}
    assert all(gains[m] > 0 for m in ("shap", "lime", "integrated_gradients", "occlusion"))
    # per-token attributions are kept; SHAP recovers the true weights of the explained label
    first = result.details["examples"][0]
    truth = [WEIGHTS.get(t, 0.0) for t in first["tokens"]]
    np.testing.assert_allclose(first["scores"]["shap"], truth, atol=1e-9)
    assert first["variant"]["text"] != first["text"]
    outcome = next(o for o in result.outcomes if o.metric == M.COMPREHENSIVENESS and o.group == {"method": "shap"})
    assert outcome.example_ids == [r[0] for r in ROWS]
    kinds = [v.type for v in result.views]
    assert kinds.count("token_heatmap") == 6 and "bar_chart" in kinds and "table" in kinds
    assert sum(v.type == "matrix_heatmap" for v in result.views) == 4   # agreement + attention ×3
    heatmap = next(v for v in result.views if v.type == "token_heatmap")
    assert [r.label for r in heatmap.rows] == ["shap", "lime", "attention", "integrated_gradients", "occlusion"]
    assert len(adapter.seen) == len(set(adapter.seen))   # no masked input reached the model twice


def test_negative_target_and_gold_and_named_label(tmp_path):
    adapter = BowAdapter(WEIGHTS)
    result = _run(adapter, tmp_path, _config(tmp_path, target={"label": "NEGATIVE"}, methods=["occlusion"]))
    first = result.details["examples"][0]
    assert first["target"] == "negative"
    np.testing.assert_allclose(first["scores"]["occlusion"], [-WEIGHTS.get(t, 0.0) for t in first["tokens"]])
    gold = _run(BowAdapter(WEIGHTS), tmp_path, _config(tmp_path, target="gold", methods=["occlusion"]))
    assert [e["target"] for e in gold.details["examples"]] == [r[2] for r in ROWS]


def test_same_seed_same_result_other_seed_other_lime(tmp_path):
    config = _config(tmp_path, methods=["lime", "shap"], stability={"enabled": False})
    a = _run(BowAdapter(WEIGHTS), tmp_path, config).details["examples"]
    b = _run(BowAdapter(WEIGHTS), tmp_path, config).details["examples"]
    c = _run(BowAdapter(WEIGHTS), tmp_path, config, seed=7).details["examples"]
    assert [e["scores"] for e in a] == [e["scores"] for e in b]
    assert [e["scores"]["lime"] for e in a] != [e["scores"]["lime"] for e in c]


def test_selection_random_and_misclassified_first(tmp_path):
    # the model's mistakes: c (p(positive) 0.42), d (0.5: a tie goes to 'negative') and g
    rows = ROWS + [("g", "awful awful", "positive")]
    config = {"examples": {"dataset": {"path": str(_csv(tmp_path, rows))}, "n": 4, "select": "misclassified_first"},
              "methods": ["occlusion"], "stability": {"enabled": False}}
    result = _run(BowAdapter(WEIGHTS), tmp_path, config)
    assert [e["id"] for e in result.details["examples"]] == ["c", "d", "g", "a"]
    config["examples"].update(select="random", n=3, seed=1)
    picked = [e["id"] for e in _run(BowAdapter(WEIGHTS), tmp_path, config).details["examples"]]
    assert len(set(picked)) == 3 and picked == [e["id"] for e in _run(BowAdapter(WEIGHTS), tmp_path,
                                                                       config).details["examples"]]


def test_too_long_text_is_truncated_with_a_note(tmp_path):
    long_text = " ".join(["brilliant"] * 80)
    adapter = BowAdapter(WEIGHTS, max_length=16)
    result = _run(adapter, tmp_path, _config(tmp_path, methods=["occlusion", "shap"]) | {
        "examples": {"dataset": {"path": str(_csv(tmp_path, [("x", long_text, "positive")]))}, "n": 1}})
    assert result.details["examples"][0]["truncated"] and len(result.details["examples"][0]["tokens"]) == 14
    assert any("longer than the model's max_length" in f.message for f in result.findings)


def test_bad_input_names_the_key(tmp_path):
    with pytest.raises(ValidationError, match="unknown method 'gradcam'"):
        ExplainabilityConfig.model_validate(_config(tmp_path, methods=["shap", "gradcam"]))
    with pytest.raises(ValidationError, match="exactly one of 'dataset'"):
        ExplainabilityConfig.model_validate({"examples": {"n": 3}})
    with pytest.raises(ValidationError, match="stability.methods"):
        ExplainabilityConfig.model_validate(_config(tmp_path, methods=["shap"], stability={"methods": ["lime"]}))
    with pytest.raises(ValidationError, match="max_evals"):
        ExplainabilityConfig.model_validate(_config(tmp_path, shap={"max_evals": 1}))
    with pytest.raises(ConfigError, match=r"explainability.target.label: unknown label 'neutral'"):
        _run(BowAdapter(WEIGHTS), tmp_path, _config(tmp_path, target={"label": "neutral"}))
    with pytest.raises(ConfigError, match="explainability.examples.task"):
        _run(BowAdapter(WEIGHTS), tmp_path, {"examples": {"task": "rt_polarity_mc"}})
    empty = _csv(tmp_path, ROWS[:2] + [("blank", "   ", "positive")])
    with pytest.raises(DataError, match=r"row 3 \(id blank\): column 'text' is blank"):
        _run(BowAdapter(WEIGHTS), tmp_path, {"examples": {"dataset": {"path": str(empty)}}})


def test_tiny_real_classifier_ig_completeness(tiny_classifier_dir, tmp_path):
    adapter = load_adapter("clf", ModelSpec(path=str(tiny_classifier_dir), device="cpu"), prepared_dir=tmp_path,
                           cache_dir=None)
    config = {"examples": {"dataset": {"path": str(_csv(tmp_path))}, "n": 3}, "shap": {"max_evals": 40},
              "lime": {"num_samples": 40}, "integrated_gradients": {"steps": 16}, "masking": "mask"}
    result = _run(adapter, tmp_path, config)
    assert result.metric(M.IG_GAP, M.IG_GROUP).value < 1e-3
    assert {f["tokens"][0] for f in [result.details["examples"][0]]} == {"a"}
    assert result.metric(M.MODEL_CALLS, {"method": "attention"}).value == 1.0


def test_tiny_real_causal_lm_explains_its_choice(tiny_causal_dir, tmp_path):
    adapter = load_adapter("lm", ModelSpec(path=str(tiny_causal_dir), device="cpu"), prepared_dir=tmp_path,
                           cache_dir=None)
    config = {"examples": {"task": "rt_polarity_mc", "n": 2}, "methods": ["occlusion", "lime",
                                                                          "integrated_gradients", "attention"],
              "lime": {"num_samples": 30}, "integrated_gradients": {"steps": 4}}
    result = _run(adapter, tmp_path, config)
    first = result.details["examples"][0]
    assert first["text"].startswith("Review: ") and first["text"].endswith("\nSentiment:")
    assert "".join(first["tokens"]) in "".join(first["text"].split())   # the review's tokens, template fixed
    assert "Sentiment" not in "".join(first["tokens"])
    assert first["target"] in ("negative", "positive") and result.details["unit"] == "nats"
    assert len(first["scores"]["integrated_gradients"]) == len(first["tokens"])
    assert result.metric(M.COMPREHENSIVENESS, {"method": "lime"}).unit == "nats"
    # f is the chosen answer's log-softmax over the choices, and IG explains that same number
    choices = [" negative", " positive"]
    lps = np.array([r.logprob for r in adapter.loglikelihood([(first["text"], c) for c in choices])])
    expected = lps[choices.index(" " + first["target"])] - np.logaddexp.reduce(lps)
    assert first["f_x"] == pytest.approx(expected, abs=1e-4) and first["f_x"] <= 0
    assert first["ig"]["output"] == pytest.approx(expected, abs=1e-3)
    whole = _run(adapter, tmp_path, {**config, "examples": {"task": "rt_polarity_mc", "n": 1, "features": "prompt"},
                                     "methods": ["occlusion"]})
    assert whole.details["examples"][0]["tokens"][0].strip().lower() == "review"
    with pytest.raises(ConfigError, match="explainability.masking"):
        _run(adapter, tmp_path, {**config, "masking": "mask"})
    with pytest.raises(ConfigError, match="use 'task'"):
        _run(adapter, tmp_path, {"examples": {"dataset": {"path": str(_csv(tmp_path))}}})


def _cli(tmp_path: Path, model: Path, block: str) -> int:
    config = tmp_path / "a.yaml"
    config.write_text(f"models:\n  clf: {{path: {model}}}\nsuites:\n  - suite: explainability\n    config: {block}\n")
    return main([str(config), "--out", str(tmp_path / "o"), "--no-progress"])


def test_cli_bad_method_and_label_exit_2(tmp_path, tiny_classifier_dir, capsys):
    data = _csv(tmp_path)
    assert _cli(tmp_path, tiny_classifier_dir, f"{{examples: {{dataset: {{path: {data}}}}}, methods: [gradcam]}}") == 2
    out = capsys.readouterr()
    assert "methods" in out.out + out.err and "Traceback" not in out.err
    assert _cli(tmp_path, tiny_classifier_dir, f"{{examples: {{dataset: {{path: {data}}}, n: 1}}, "
                                               f"ground_truth: {{shortcut: {{enabled: false}}}}, "
                                               f"target: {{label: neutral}}}}") == 2
    out = capsys.readouterr()
    assert "explainability.target.label" in out.out + out.err and "Traceback" not in out.err
    saved = json.loads((tmp_path / "o" / "results.json").read_text())
    assert saved["suites"][0]["status"] == "error"
