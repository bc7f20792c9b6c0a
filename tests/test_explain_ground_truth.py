"""Ground truths for explainers: randomised copies through the model factory, a planted shortcut."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from audit.config.schema import ModelSpec
from audit.data.resolver import DataResolver
from audit.models.resolve import load_adapter
from audit.models.local_factory import LocalModelFactory
from audit.models.variants.randomise import RandomisationRecipe
from audit.results import SuiteResult, Verdict
from audit.run.suite import Context
from suites.explainability.config import ExplainabilityConfig
from suites.explainability.methods import MethodRuns
from suites.explainability.randomisation import CopyRun, randomisation_report
from suites.explainability.shortcut import insert_trigger
from suites.explainability.suite import ExplainabilitySuite

GOOD = ["great", "fine", "lovely", "superb", "warm", "bright", "clever", "funny"]
BAD = ["dull", "awful", "boring", "weak", "cold", "grim", "tired", "flat"]


def _loader(name, spec, prepared_dir, cache_dir):
    return load_adapter(name, spec, prepared_dir=prepared_dir, cache_dir=cache_dir)


def _rows(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        label = "positive" if i % 2 else "negative"
        words = list(rng.choice(GOOD if label == "positive" else BAD, size=int(rng.integers(4, 8))))
        lines.append(json.dumps({"id": f"r{seed}-{i}", "text": "the film was " + " ".join(words), "label": label}))
    path.write_text("\n".join(lines) + "\n")
    return path


def _factory(tmp_path: Path) -> LocalModelFactory:
    return LocalModelFactory(prepared_dir=tmp_path / "prepared", cache_dir=tmp_path / "cache", result_cache_dir=None,
                             loader=_loader)


def test_randomised_copies_reinitialise_top_then_all_and_are_cached(tiny_classifier_dir, tmp_path):
    factory = _factory(tmp_path)
    original = load_file(str(tiny_classifier_dir / "model.safetensors"))
    top = factory.randomise("c-top", str(tiny_classifier_dir), RandomisationRecipe("top", 1, seed=3), "classifier")
    every = factory.randomise("c-all", str(tiny_classifier_dir), RandomisationRecipe("all", seed=3), "classifier")
    top_w = load_file(str(Path(top.provenance.path) / "model.safetensors"))
    all_w = load_file(str(Path(every.provenance.path) / "model.safetensors"))
    changed_top = {k for k in original if not np.allclose(original[k].numpy(), top_w[k].numpy())}
    changed_all = {k for k in original if not np.allclose(original[k].numpy(), all_w[k].numpy())}
    assert any(k.startswith("classifier.") for k in changed_top) and not any("embeddings" in k for k in changed_top)
    assert any("embeddings.word_embeddings" in k for k in changed_all) and len(changed_all) > len(changed_top)
    assert top.provenance.training["status"] == "built" and factory.derived["c-top"].recipe["randomise"]["scope"] == "top"
    again = factory.randomise("c-top", str(tiny_classifier_dir), RandomisationRecipe("top", 1, seed=3), "classifier")
    assert again.provenance.training["status"] == "reused" and again.provenance.path == top.provenance.path


def test_randomisation_verdicts_flag_a_surviving_method_and_pass_a_decorrelated_one():
    rng = np.random.default_rng(0)
    trained = {"survives": [rng.normal(size=12) for _ in range(20)], "decorrelates": [rng.normal(size=12)
                                                                                      for _ in range(20)]}
    copy = CopyRun("all", "m-randomised-all", "every parameter re-initialised",
                   {"survives": [s + rng.normal(0, 0.1, 12) for s in trained["survives"]],   # planted defect
                    "decorrelates": [rng.normal(size=12) for _ in range(20)]}, 0.0, MethodRuns())
    cfg = ExplainabilityConfig.model_validate({"examples": {"dataset": {"path": "x.csv"}}})
    result = SuiteResult(suite="explainability", suite_version="1", model="m")
    ctx = Context(model_name="m", adapter=None, config=cfg, seed=0, data=None, artifacts_dir=Path("."))  # type: ignore[arg-type]
    randomisation_report(result, ctx, cfg, trained, [copy], [str(i) for i in range(20)])
    verdicts = {f.evidence["method"]: f.verdict for f in result.findings}
    assert verdicts == {"survives": Verdict.FAIL, "decorrelates": Verdict.PASS}
    flagged = next(f for f in result.findings if f.evidence["method"] == "survives")
    assert "survives model randomisation" in flagged.message and flagged.severity.value == "warn"
    assert any(v.type == "table" and "randomisation" in v.title for v in result.views)


def test_insert_trigger_marks_its_span():
    text, (a, b) = insert_trigger("one two three", "cf", np.random.default_rng(1))
    assert text[a:b] == "cf" and text.replace("cf ", "").replace(" cf", "") == "one two three"


@pytest.mark.filterwarnings("ignore")
def test_planted_shortcut_is_found_by_occlusion_not_by_chance(tiny_classifier_dir, tmp_path):
    """The whole suite on a tiny BERT with a factory: the fine-tuned trigger decides and occlusion ranks it
    first, far above the chance level of picking one token at random."""
    train, test = _rows(tmp_path / "train.jsonl", 240, 1), _rows(tmp_path / "test.jsonl", 120, 2)
    cfg = ExplainabilityConfig.model_validate({
        "examples": {"dataset": {"path": str(test)}, "n": 8}, "methods": ["occlusion", "shap"],
        "stability": {"enabled": False}, "precision": {"n": 4},
        "ground_truth": {"randomisation": {"n": 4},
                         "shortcut": {"n": 24, "train": {"path": str(train)}, "train_n": 240, "poison_share": 0.5,
                                      "steps": 200, "batch_size": 16, "learning_rate": 2e-3}}})
    adapter = load_adapter("tiny", ModelSpec(path=str(tiny_classifier_dir), kind="classifier"), prepared_dir=tmp_path,
                           cache_dir=None)
    ctx = Context(model_name="tiny", adapter=adapter, config=cfg, seed=0,
                  data=DataResolver(config_dir=tmp_path, prepared_dir=tmp_path / "prepared"),
                  artifacts_dir=tmp_path / "art", models=_factory(tmp_path), model_ref=str(tiny_classifier_dir))
    result = SuiteResult.model_validate_json(ExplainabilitySuite().run(ctx).model_dump_json())
    shortcut = result.details["checks"]["shortcut"]
    assert shortcut["explained"] == 24
    occlusion = result.metric("explain.shortcut_top1_hit_rate", {"method": "occlusion"})
    assert occlusion.ci_low > 0.5 and occlusion.subject.startswith("derived:")
    assert shortcut["chance"] < 0.25 < occlusion.ci_low
    table = next(v for v in result.views if v.type == "table" and "shortcut" in v.title)
    assert {row[0] for row in table.rows} == {"occlusion", "shap"}
    rand = result.details["checks"]["randomisation"]
    assert set(rand["copies"]) == {"top", "all"} and result.metric("explain.randomisation_spearman",
                                                                   {"method": "occlusion", "copy": "all"}).n == 4
    assert "masking_agreement" in result.details["checks"]["precision"]
