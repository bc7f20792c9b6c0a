"""The privacy suite end to end on tiny models with the real trainer (Opacus included): metrics,
views, provenance of the derived models, reuse on a second run, the must-show checks on a tiny
overfit model and a tiny causal LM, and bad input (clear errors naming the key, exit code 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec, load_config
from audit.data.resolver import DataResolver
from audit.models.local_factory import LocalModelFactory
from audit.results import LineChartView, Status, TableView
from audit.run.runner import Runner
from audit.run.suite import Context
from suites.privacy.attacks import example_losses, loss_attack
from suites.privacy.canary_part import FRESH, run_canaries
from suites.privacy.config import PrivacyConfig, SecretConfig
from suites.privacy.data import Texts
from suites.privacy.report import exposure_metrics
from suites.privacy.metrics import (ATTACK_IMPLIED_EPSILON, CANARY_EXTRACTION_RATE, DP_ACCURACY, DP_ACCURACY_CHANGE, EMPIRICAL_EPSILON, MIA_AUC,
                                    MIA_TPR_AT_FPR)
from audit.stats.membership import auc_with_ci

WORDS = ("good great fine bad dull awful film movie plot cast story music actor script scene comedy drama "
         "warm cold funny boring moving tedious brilliant weak heart mess").split()


def sentences(n: int, seed: int) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        words = list(rng.choice(WORDS, size=int(rng.integers(4, 9))))
        words.append("".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=6)))   # a rare, memorable word
        rows.append((" ".join(words), "positive" if rng.random() < 0.5 else "negative"))
    return rows


def write_rows(path: Path, rows: list[tuple[str, str]], prefix: str) -> Path:
    path.write_text("".join(json.dumps({"id": f"{prefix}{i}", "text": t, "label": y}) + "\n"
                            for i, (t, y) in enumerate(rows)), encoding="utf-8")
    return path


def _loader(name, spec, prepared_dir, cache_dir):
    return load_adapter(name, spec, prepared_dir=prepared_dir, cache_dir=cache_dir)


def privacy_config(tmp_path: Path, model_dir: Path, **dp) -> Path:
    write_rows(tmp_path / "train.jsonl", sentences(160, 1), "tr")
    write_rows(tmp_path / "holdout.jsonl", sentences(40, 2), "ho")
    write_rows(tmp_path / "test.jsonl", sentences(40, 3), "te")
    dp_block = {"method": "finetune", "base": str(model_dir), "train": {"path": "train.jsonl", "limit": 64},
                "test": {"path": "test.jsonl"}, "non_members": {"path": "holdout.jsonl"},
                "epsilons": [2, 16], "steps": 4, "batch_size": 16, "train_only": [],
                "canaries": {"m": 20, "guesses": 4}, **dp}
    config = {"seed": 0, "models": {"tiny": {"path": str(model_dir), "kind": "classifier"}},
              "suites": [{"suite": "privacy", "config": {
                  "membership": {"members": {"path": "train.jsonl", "limit": 30},
                                 "non_members": [{"path": "holdout.jsonl"}], "low_fpr": [0.1]},
                  "dp": dp_block}}]}
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run(path: Path, out: Path):
    return Runner(load_config(path), out, adapter_loader=_loader, show_progress=False).run()


def by_name(result, name):
    return [m for m in result.metrics if m.name == name]


def test_privacy_suite_runs_membership_dp_and_one_run_audit(tiny_classifier_dir, tmp_path):
    path = privacy_config(tmp_path, tiny_classifier_dir)
    first = run(path, tmp_path / "out")
    result = first.suites[0]
    assert result.status == Status.PASSED, result.error
    aucs = {(m.group["model"], m.group["attack"]) for m in by_name(result, MIA_AUC)}
    assert aucs == {("audited", "loss"), ("audited", "calibrated"), ("non-private control", "loss"),
                    ("dp eps=2", "loss"), ("dp eps=16", "loss")}
    for m in by_name(result, MIA_AUC) + by_name(result, MIA_TPR_AT_FPR) + by_name(result, DP_ACCURACY):
        assert m.n > 0 and m.ci_low is not None and m.ci_low <= m.value <= m.ci_high
    assert {m.group["model"] for m in by_name(result, DP_ACCURACY)} == {"non-private control", "dp eps=2", "dp eps=16"}
    assert all(m.n == 40 for m in by_name(result, DP_ACCURACY_CHANGE))
    methods = {(m.group["model"], m.group["method"]) for m in by_name(result, EMPIRICAL_EPSILON)}
    assert ("dp eps=2", "one_run") in methods
    implied = {(m.group["model"], m.group["method"]) for m in by_name(result, ATTACK_IMPLIED_EPSILON)}
    assert ("dp eps=2", "roc") in implied       # the single-model ROC epsilon: a heuristic, never a gate
    # The accounting of each DP model is recorded, and the claim is not falsified on a tiny run.
    models = result.details["dp"]["models"]
    accounting = models["dp eps=2"]["training"]["privacy"]
    assert accounting["epsilon_spent"] <= 2 + 1e-6 and accounting["steps"] == 4 and accounting["delta"] == 1e-5
    claims = [f for f in result.findings if f.gate == "claimed_epsilon"]
    assert claims and all(f.verdict.value == "inconclusive" and "cannot test" in f.message for f in claims)
    assert all(f.power is not None and not f.power.can_test for f in claims)
    assert any(f.message.startswith("DP fine-tuning: at ε = 2") for f in result.findings)
    charts = [v for v in result.views if isinstance(v, LineChartView)]
    assert charts[0].x_scale == "log" and len(charts[0].series) == 6     # 5 curves + chance
    assert any(isinstance(v, TableView) and v.title.startswith("DP-SGD recipe") for v in result.views)
    assert set(first.provenance.derived_models) == {"tiny/privacy-non-private-control", "tiny/privacy-dp-eps2",
                                                    "tiny/privacy-dp-eps16"}
    again = run(path, tmp_path / "out2")        # the derived models are reused, the numbers are the same
    assert all(again.suites[0].details["dp"]["models"][k]["training"]["status"] == "reused" for k in models)
    assert [m.value for m in by_name(again.suites[0], MIA_AUC)] == [m.value for m in by_name(result, MIA_AUC)]


def test_loss_attack_sees_an_overfit_model_and_not_an_unseen_one(tiny_classifier_dir, tmp_path):
    """Members with random labels, memorised by many steps: AUC well above 0.5; the untrained
    base never saw them: AUC within noise of 0.5."""
    from audit.models.training.recipe import FineTuneRecipe, TrainingData

    rows = sentences(128, 7)
    members, non_members = rows[:64], rows[64:]
    labels = {"negative": 0, "positive": 1}
    as_texts = lambda part, p: Texts([f"{p}{i}" for i in range(len(part))], [t for t, _ in part],
                                     np.asarray([labels[y] for _, y in part]), p)
    factory = LocalModelFactory(prepared_dir=tmp_path / "prepared", cache_dir=tmp_path / "cache",
                                result_cache_dir=None, loader=_loader)
    recipe = FineTuneRecipe(base=str(tiny_classifier_dir), labels=("negative", "positive"), steps=300,
                            batch_size=16, learning_rate=1e-3)
    overfit = factory.derive("overfit", recipe, TrainingData(tuple(t for t, _ in members),
                                                             tuple(labels[y] for _, y in members))).adapter
    unseen = factory.load("base", str(tiny_classifier_dir), "classifier")
    m, n = as_texts(members, "m"), as_texts(non_members, "n")
    high = loss_attack(example_losses(overfit, m), example_losses(overfit, n))
    chance = loss_attack(example_losses(unseen, m), example_losses(unseen, n))
    high_auc = auc_with_ci(high.scores, high.is_member).auc
    chance_auc = auc_with_ci(chance.scores, chance.is_member).auc
    assert high_auc.value > 0.75 and high_auc.ci_low > 0.65
    assert chance_auc.ci_low < 0.5 < chance_auc.ci_high


def test_inserted_canary_is_more_exposed_than_fresh_secrets(tiny_causal_dir, tmp_path):
    cfg = SecretConfig(train={"path": str(write_rows(tmp_path / "filler.jsonl", sentences(40, 4), "f")),
                              "label_column": None},
                       repeats=[32], fresh=4, candidates=200, steps=120, batch_size=16, learning_rate=3e-3,
                       secret_format="{d}{d}{d}{d}")
    factory = LocalModelFactory(prepared_dir=tmp_path / "prepared", cache_dir=tmp_path / "cache",
                                result_cache_dir=None, loader=_loader)
    adapter = load_adapter("tiny", ModelSpec(path=str(tiny_causal_dir), kind="causal_lm"), prepared_dir=tmp_path,
                           cache_dir=None)
    ctx = Context(model_name="tiny", adapter=adapter, config=cfg, seed=0,
                  data=DataResolver(config_dir=tmp_path, prepared_dir=tmp_path / "prepared"),
                  artifacts_dir=tmp_path / "artifacts", models=factory, model_ref=str(tiny_causal_dir))
    [model] = run_canaries(ctx, cfg)
    inserted = [r.exposure.exposure for r in model.results if r.secret.repeats != FRESH]
    fresh = [r.exposure.exposure for r in model.results if r.secret.repeats == FRESH]
    assert len(inserted) == 1 and len(fresh) == 4
    assert inserted[0] > max(fresh) and inserted[0] > 5
    assert all(r.extraction is not None and r.secret.owner for r in model.results)   # greedy extraction ran
    rates = {m.group["secrets"]: m for m in exposure_metrics([model]) if m.name == CANARY_EXTRACTION_RATE}
    assert set(rates) == {"inserted", "fresh"} and rates["inserted"].n == 1 and rates["fresh"].n == 4


# ---------------------------------------------------------------- bad input


def error_of(tmp_path, model_dir, **dp) -> str:
    result = run(privacy_config(tmp_path, model_dir, **dp), tmp_path / "out").suites[0]
    assert result.status == Status.ERROR and result.details.get("user_error"), result.error
    return result.error


def test_overlapping_members_and_non_members_is_an_error(tiny_classifier_dir, tmp_path):
    path = privacy_config(tmp_path, tiny_classifier_dir)
    config = yaml.safe_load(path.read_text())
    config["suites"][0]["config"]["membership"]["non_members"] = [{"path": "train.jsonl"}]
    path.write_text(yaml.safe_dump(config))
    result = run(path, tmp_path / "out").suites[0]
    assert result.status == Status.ERROR and "privacy.membership.non_members" in result.error
    assert "both members and non-members" in result.error


@pytest.mark.parametrize("dp, key", [
    ({"delta": 0.5}, "privacy.dp.delta"),                       # delta >= 1/n
    ({"batch_size": 500}, "privacy.dp.train"),                  # fewer examples than a batch
    ({"train_only": ["no.such.layer"]}, "train_only"),          # a prefix that names nothing
    ({"freeze": ["bert", "classifier"]}, "no trainable parameter"),   # nothing left to train
])
def test_bad_dp_settings_name_the_key(tiny_classifier_dir, tmp_path, dp, key):
    assert key in error_of(tmp_path, tiny_classifier_dir, **dp)


def test_non_positive_epsilon_is_rejected_by_the_config(tmp_path):
    with pytest.raises(Exception) as info:
        PrivacyConfig.model_validate({"dp": {"epsilons": [0]}})
    assert "epsilon" in str(info.value)


def test_bad_epsilon_exits_2_with_one_line_error(tiny_classifier_dir, tmp_path):
    path = privacy_config(tmp_path, tiny_classifier_dir, epsilons=[-1])
    done = subprocess.run([sys.executable, "run_audit.py", "run", str(path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "epsilons" in done.stderr
