"""The explainability suite on the real default models and real rt_polarity data (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec
from audit.data.resolver import DataResolver
from audit.results import SuiteResult
from audit.run.suite import Context
from suites.explainability import assemble as M
from suites.explainability.config import ExplainabilityConfig
from suites.explainability.suite import ExplainabilitySuite

pytestmark = pytest.mark.slow


def _run(prepared_dir: Path, tmp_path: Path, name: str, kind: str, config: dict) -> tuple[SuiteResult, object]:
    adapter = load_adapter(name, ModelSpec(path=f"prepared:{name}", kind=kind, dtype="fast"),
                           prepared_dir=prepared_dir, cache_dir=None)
    ctx = Context(model_name=name, adapter=adapter, config=ExplainabilityConfig.model_validate(config), seed=0,
                  data=DataResolver(config_dir=tmp_path, prepared_dir=prepared_dir), artifacts_dir=tmp_path)
    result = ExplainabilitySuite().run(ctx)
    return SuiteResult.model_validate_json(result.model_dump_json()), adapter


def test_minilm_sentiment_on_rt_polarity(prepared_dir, tmp_path):
    result, adapter = _run(prepared_dir, tmp_path, "minilm-sentiment", "classifier", {
        "examples": {"dataset": {"path": "prepared:rt_polarity/test.jsonl"}, "n": 3},
        "shap": {"max_evals": 80}, "lime": {"num_samples": 120}, "integrated_gradients": {"steps": 16}})
    random = result.metric(M.COMPREHENSIVENESS, {"method": "random"}).value
    random_loo = result.metric(M.LOO_CORRELATION, {"method": "random"}).value
    for method in ("shap", "lime", "integrated_gradients", "occlusion"):
        assert result.metric(M.COMPREHENSIVENESS, {"method": method}).value > random
    for method in ("shap", "lime", "integrated_gradients"):
        assert result.metric(M.LOO_CORRELATION, {"method": method}).value > random_loo
    assert result.metric(M.IG_RELATIVE_GAP, M.IG_GROUP).value < 0.05
    assert result.metric(M.AGREEMENT, {"method_a": "shap", "method_b": "occlusion"}).value > 0.3
    assert result.metric(M.STABILITY, {"method": "shap"}).n >= 3
    # f(x) in the details is the classifier's probability of the explained (predicted) label
    first = result.details["examples"][0]
    probs = adapter.classify([first["text"]])[0]
    assert first["target_index"] == int(np.argmax(probs)) and first["f_x"] == pytest.approx(probs.max(), abs=2e-2)
    assert len(first["tokens"]) == len(first["scores"]["shap"]) == len(first["scores"]["attention"])


def test_smollm2_explains_its_rt_polarity_choice(prepared_dir, tmp_path):
    result, adapter = _run(prepared_dir, tmp_path, "smollm2-135m", "causal_lm", {
        "examples": {"task": "rt_polarity_mc", "n": 2},
        "methods": ["occlusion", "integrated_gradients", "lime", "attention"],
        "lime": {"num_samples": 30}, "integrated_gradients": {"steps": 6}, "stability": {"enabled": False}})
    for example in result.details["examples"]:
        choices = [" negative", " positive"]
        scores = [r.logprob for r in adapter.loglikelihood([(example["text"], c) for c in choices])]
        assert example["target"] == choices[int(np.argmax(scores))].strip()
        log_softmax = max(scores) - np.logaddexp.reduce(scores)   # the choice among the choices
        assert example["f_x"] == pytest.approx(log_softmax, abs=0.1)
        assert example["text"].endswith("\nSentiment:") and "Sentiment" not in "".join(example["tokens"])
        assert "".join(example["tokens"]).strip() in example["text"]   # the review's tokens (with their spaces)
    assert result.metric(M.COMPREHENSIVENESS, {"method": "occlusion"}).value > \
        result.metric(M.COMPREHENSIVENESS, {"method": "random"}).value
    assert result.metric(M.IG_GAP, M.IG_GROUP) is not None and result.metric(M.STABILITY, {"method": "lime"}) is None
