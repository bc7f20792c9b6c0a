"""The privacy suite on the real minilm-sentiment and real rt-polarity sentences (small sizes):
the per-example losses behind the attacks match the model run one sentence at a time outside the
adapter, the DP model's epsilon is Opacus' accountant recomputed from the recorded noise, sample
rate and steps, and the report's numbers are consistent with each other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec
from audit.data.resolver import DataResolver
from audit.models.local_factory import LocalModelFactory
from audit.results import Status
from audit.run.suite import Context
from suites.privacy.attacks import example_losses
from suites.privacy.config import PrivacyConfig
from suites.privacy.data import load_texts
from suites.privacy.metrics import DP_ACCURACY, EMPIRICAL_EPSILON, MIA_AUC
from suites.privacy.suite import PrivacySuite


def _loader(name, spec, prepared_dir, cache_dir):
    return load_adapter(name, spec, prepared_dir=prepared_dir, cache_dir=cache_dir)


def test_real_privacy_suite_small_run(tmp_path, prepared_dir, monkeypatch):
    monkeypatch.setenv("RAI_AUDIT_TRAIN_THREADS", "2")
    adapter = load_adapter("minilm-sentiment", ModelSpec(path=str(prepared_dir / "minilm-sentiment")),
                           prepared_dir=prepared_dir, cache_dir=None)
    split = lambda name, n: {"path": f"prepared:rt_polarity/{name}.jsonl", "limit": n}
    config = PrivacyConfig.model_validate({
        "membership": {"members": split("train", 120), "non_members": [split("validation", 120)]},
        "dp": {"train": split("train", 256), "test": split("test", 100), "non_members": split("validation", 100),
               "epsilons": [8], "steps": 6, "batch_size": 32, "canaries": {"m": 40, "guesses": 5}}})
    factory = LocalModelFactory(prepared_dir=prepared_dir, cache_dir=tmp_path / "cache", result_cache_dir=None,
                                loader=_loader)
    data = DataResolver(config_dir=tmp_path, prepared_dir=prepared_dir)
    ctx = Context(model_name="minilm-sentiment", adapter=adapter, config=config, seed=0, data=data,
                  artifacts_dir=tmp_path / "artifacts", models=factory)
    result = PrivacySuite().run(ctx)
    assert result.status == Status.PASSED
    # losses behind the attacks: the model one sentence at a time, outside the adapter
    members = load_texts(data, config.membership.members, key="k", labels=adapter.labels,
                         seed=ctx.sub_seed("privacy", "members"))
    ours = example_losses(adapter, members)[:10]
    model, tokenizer = adapter.model, adapter.tokenizer
    with torch.no_grad():
        by_hand = [float(torch.nn.functional.cross_entropy(model(**tokenizer(t, return_tensors="pt")).logits,
                                                           torch.tensor([int(y)])))
                   for t, y in zip(members.texts[:10], members.labels[:10])]
    assert ours == pytest.approx(by_hand, abs=1e-4)
    # epsilon spent is Opacus' accountant on the recorded noise multiplier, sample rate and steps
    from opacus.accountants import PRVAccountant

    accounting = result.details["dp"]["models"]["dp eps=8"]["training"]["privacy"]
    recomputed = PRVAccountant()
    recomputed.history = [(accounting["noise_multiplier"], accounting["sample_rate"], accounting["steps"])]
    assert accounting["epsilon_spent"] == pytest.approx(recomputed.get_epsilon(delta=accounting["delta"]), rel=1e-6)
    n_trained = 256 + result.details["dp"]["canaries"]["included"]
    assert accounting["epsilon_spent"] <= 8 + 1e-6 and accounting["sample_rate"] == pytest.approx(32 / n_trained)
    aucs = {(m.group["model"], m.group["attack"]): m for m in result.metrics if m.name == MIA_AUC}
    assert set(aucs) == {("audited", "loss"), ("audited", "calibrated"), ("non-private control", "loss"),
                         ("dp eps=8", "loss")}
    assert aucs[("audited", "loss")].n == 240 and all(0 <= m.value <= 1 for m in aucs.values())
    accuracy = {m.group["model"]: m for m in result.metrics if m.name == DP_ACCURACY}
    assert accuracy["non-private control"].n == 100
    bounds = [m for m in result.metrics if m.name == EMPIRICAL_EPSILON and m.group["model"] == "dp eps=8"]
    assert len(bounds) == 2 and all(0 <= m.value <= 8 for m in bounds)
    n_train = int(json.dumps(result.details["dp"]["train"]).count("n=256"))
    assert n_train == 1 and result.details["dp"]["canaries"]["m"] == 40
