"""FineTuneTrainer on tiny models: DP accounting checked against Opacus itself, determinism, the model
factory with the real trainer, causal LM fine-tuning, input validation, and the DP-overhead bench."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from audit.models.resolve import load_adapter
from audit.data.resolver import sha256_file
from audit.errors import ConfigError
from audit.models.local_factory import LocalModelFactory
from audit.models.training.finetune import REPORT_NAME, FineTuneTrainer, validate
from audit.models.training.recipe import FineTuneRecipe, PrivacySpec, TrainingData

POSITIVE = ["good", "great", "fine", "lovely", "nice", "excellent", "wonderful", "superb"]
NEGATIVE = ["bad", "awful", "terrible", "poor", "horrible", "dreadful", "boring", "weak"]
TOY = TrainingData(tuple(f"a {w} film" for pair in zip(NEGATIVE, POSITIVE) for w in pair) * 2,
                   tuple(i % 2 for i in range(32)))                    # learnable: the adjective decides
LABELS = ("negative", "positive")
STORY = TrainingData(("the cat sat on the mat and the dog sat on the log",) * 16)


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    """Tiny models gain nothing from a second thread, and on a shared 2-core machine two threads with one
    core busy make each step up to 65x slower; the all-cores default is the trainer's."""
    monkeypatch.setenv("RAI_AUDIT_TRAIN_THREADS", "1")


def _recipe(base: Path, **changes) -> FineTuneRecipe:
    return dataclasses.replace(FineTuneRecipe(base=str(base), labels=LABELS, steps=6, batch_size=4,
                                              learning_rate=3e-3), **changes)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def _independent_epsilon(privacy: dict) -> float:
    from opacus.accountants import PRVAccountant, RDPAccountant

    accountant = {"rdp": RDPAccountant, "prv": PRVAccountant}[privacy["accountant"]]()
    accountant.history = [(privacy["noise_multiplier"], privacy["sample_rate"], privacy["steps"])]
    return accountant.get_epsilon(delta=privacy["delta"])


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_dp_epsilon_is_opacus_own_accounting(tiny_classifier_dir, tmp_path, accountant):
    spec = PrivacySpec(epsilon=4.0, delta=1e-3, accountant=accountant)
    recipe = _recipe(tiny_classifier_dir, privacy=spec, steps=5)
    report = FineTuneTrainer().train(recipe, TOY, tmp_path / "dp")
    privacy = report["privacy"]
    assert privacy["steps"] == 5 and privacy["sample_rate"] == pytest.approx(4 / 32)
    assert privacy["epsilon_spent"] == pytest.approx(_independent_epsilon(privacy), rel=1e-9)
    assert privacy["epsilon_spent"] <= spec.epsilon + 0.01 and privacy["epsilon_spent"] > spec.epsilon - 0.5
    assert privacy["mode"] == "ghost" and "ghost clipping ran" in privacy["mode_reason"]
    assert [f["module"] for f in report["frozen"]] == ["bert.embeddings"]
    assert "FIELD-NOTES" in report["frozen"][0]["reason"] and report["frozen"][0]["parameters"] > 0
    assert json.loads((tmp_path / "dp" / REPORT_NAME).read_text()) == json.loads(json.dumps(report))


@pytest.mark.parametrize("mode", ["hooks", "ghost"])
def test_empty_poisson_batches_still_step_and_count(tiny_classifier_dir, tmp_path, mode):
    # batch_size 1 of 32 examples: each step is empty with probability (31/32)^32 = 0.36
    recipe = _recipe(tiny_classifier_dir, batch_size=1, steps=8, train_only=("classifier",),
                     privacy=PrivacySpec(epsilon=8.0, delta=1e-3, accountant="rdp", mode=mode))
    report = FineTuneTrainer().train(recipe, TOY, tmp_path / mode)
    privacy = report["privacy"]
    assert privacy["mode"] == mode and privacy["empty_batches"] > 0 and privacy["steps"] == 8
    assert report["loss_steps"] == 8 - privacy["empty_batches"]
    assert privacy["epsilon_spent"] == pytest.approx(_independent_epsilon(privacy), rel=1e-9)
    assert report["trainable_parameters"] == 32 * 2 + 2        # the head only


def test_non_private_control_is_deterministic_and_learns(tiny_classifier_dir, tmp_path):
    recipe = _recipe(tiny_classifier_dir, steps=60, batch_size=8)
    first = FineTuneTrainer().train(recipe, TOY, tmp_path / "a")
    second = FineTuneTrainer().train(recipe, TOY, tmp_path / "b")
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert first["final_loss"] == second["final_loss"] and first["privacy"] is None
    assert first["initial_loss"] > 0.6 and first["final_loss"] < 0.2
    base = _weights(tiny_classifier_dir)
    assert not torch.equal(a["classifier.weight"], base["classifier.weight"])   # it trained


def _loader(name, spec, prepared_dir, cache_dir):
    return load_adapter(name, spec, prepared_dir=prepared_dir, cache_dir=cache_dir)


def test_factory_derive_with_the_real_trainer(tiny_classifier_dir, tmp_path):
    before = {p.name: sha256_file(p) for p in tiny_classifier_dir.iterdir()}
    recipe = _recipe(tiny_classifier_dir, labels=("neg", "pos"), steps=4, train_only=("bert.encoder.layer.1",
                                                                                        "bert.pooler", "classifier"),
                     privacy=PrivacySpec(epsilon=8.0, delta=1e-3))

    def factory():      # trainer=None: the factory's default trainer, FineTuneTrainer
        return LocalModelFactory(prepared_dir=tmp_path / "prepared", cache_dir=tmp_path / "cache",
                                 result_cache_dir=None, loader=_loader)

    first = factory().derive("dp-model", recipe, TOY)
    again = factory().derive("dp-model", recipe, TOY)
    assert first.provenance.training["status"] == "built" and again.provenance.training["status"] == "reused"
    assert again.provenance.path == first.provenance.path and again.provenance.sha256 == first.provenance.sha256
    assert first.provenance.training["privacy"]["epsilon_spent"] <= 8.0 + 0.01
    assert first.adapter.labels == ["neg", "pos"] and first.adapter.classify(["a good film"]).shape == (1, 2)
    assert sorted(p.name for p in Path(first.provenance.path).glob("*.safetensors")) == ["model.safetensors"]
    assert {p.name: sha256_file(p) for p in tiny_classifier_dir.iterdir()} == before   # the base is only read


def test_causal_lm_fine_tune_lowers_loss_and_dp_falls_back_to_hooks(tiny_causal_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    plain = FineTuneTrainer().train(FineTuneRecipe(base=str(tiny_causal_dir), task="causal_lm", steps=30,
                                                   batch_size=8, learning_rate=3e-3), STORY, tmp_path / "plain")
    assert plain["final_loss"] < plain["initial_loss"] - 2
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "plain", use_safetensors=True)
    assert model.config.architectures == ["GPT2LMHeadModel"]
    private = FineTuneTrainer().train(FineTuneRecipe(base=str(tiny_causal_dir), task="causal_lm", steps=3,
                                                     batch_size=4, privacy=PrivacySpec(epsilon=8.0, delta=1e-2)),
                                      STORY, tmp_path / "dp")
    # GPT-2 ties its output layer to the word embeddings: ghost clipping refuses tied parameters
    assert private["privacy"]["mode"] == "hooks" and "tying" in private["privacy"]["mode_reason"]
    assert [f["module"] for f in private["frozen"]] == ["transformer.wpe"]       # shared position ids
    AutoModelForCausalLM.from_pretrained(tmp_path / "dp", use_safetensors=True)


@pytest.mark.parametrize(("changes", "data", "field"), [
    ({"privacy": PrivacySpec(epsilon=0.0, delta=1e-3)}, TOY, "privacy.epsilon"),
    ({"privacy": PrivacySpec(epsilon=-1.0, delta=1e-3)}, TOY, "privacy.epsilon"),
    ({"privacy": PrivacySpec(epsilon=1.0, delta=0.0)}, TOY, "privacy.delta"),
    ({"privacy": PrivacySpec(epsilon=1.0, delta=1 / 32)}, TOY, "privacy.delta"),
    ({"batch_size": 33}, TOY, "batch_size"),
    ({"freeze": ("bert", "classifier")}, TOY, "freeze"),
    ({"train_only": ("bert.embeddings",), "privacy": PrivacySpec(epsilon=1.0, delta=1e-3)}, TOY, "train_only"),
    ({"freeze": ("bert.no_such_layer",)}, TOY, "freeze"),
    ({}, TrainingData(TOY.texts), "data.labels"),
    ({}, TrainingData(TOY.texts, (2,) + TOY.labels[1:]), "data.labels"),
    ({"labels": ("only-one",)}, TOY, "labels"),
])
def test_bad_inputs_raise_config_errors_naming_the_field(tiny_classifier_dir, tmp_path, changes, data, field):
    recipe = _recipe(tiny_classifier_dir, **changes)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        validate(recipe, data)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        FineTuneTrainer().train(recipe, data, tmp_path / "out")
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_thread_count_setting(monkeypatch):
    from audit.models.training.finetune import training_threads

    assert training_threads() == 1
    monkeypatch.setenv("RAI_AUDIT_TRAIN_THREADS", "0")
    with pytest.raises(ConfigError, match="RAI_AUDIT_TRAIN_THREADS"):
        training_threads()


def test_recipe_hash_is_unchanged_by_the_train_only_field():
    recipe = FineTuneRecipe(base="x", labels=("a", "b"), privacy=PrivacySpec(epsilon=8.0, delta=1e-5))
    assert "train_only" not in recipe.as_dict()       # the cache key of a recipe written before the field
    assert recipe.sha256 == "b65ebc264a296ee1bfd89a461e5b20bbf85deddcaa8c30d6926425d9d17a57ea"
    assert dataclasses.replace(recipe, train_only=("classifier",)).sha256 != recipe.sha256


def test_dp_overhead_bench_quick(tmp_path):
    from bench.dp_overhead import GHOST, HOOKS, NON_PRIVATE, main

    assert main(["--quick", "--threads", "1", "--json", str(tmp_path / "dp.json")]) == 0
    result = json.loads((tmp_path / "dp.json").read_text())
    assert result["quick"] and set(result["seconds_per_step"]) == {NON_PRIVATE, HOOKS, GHOST}
    assert result["ratio_hooks_over_nonprivate"] > 0 and result["ratio_ghost_over_nonprivate"] > 0
    assert result["frozen"] == [{"module": "bert.embeddings", "reason": result["frozen"][0]["reason"]}]
