"""`plan`: simulated adapters count what the real run asks, read (never write) the cache, calibrate
once, and a budget refuses a run with exit 2 before anything loads."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from audit.cli.app import main
from audit.config.schema import load_config
from audit.models.adapters.cache import CACHE_FILE_NAME
from audit.plan.calibrate import CALIBRATION_FILE
from audit.plan.estimate import plan_config
from audit.run.runner import Runner
from tests.fakes import write, write_reviews


def _config(tmp_path: Path, clf: Path, causal: Path, extra: str = "") -> Path:
    write_reviews(tmp_path / "reviews.csv")
    return write(tmp_path / "audit.yaml", f"""
models:
  clf: {{path: {clf}}}
  lm: {{path: {causal}}}
suites:
  - suite: accuracy
    models: [clf]
    config:
      datasets: [{{name: reviews, path: reviews.csv}}]
  - suite: bias
    models: [lm]
    config:
      crows_pairs: {{limit: 8}}
      winobias: {{limit: 4}}
      templates: {{limit: 2}}
      bbq: {{limit_per_category: 1}}
{extra}""")


def _rows(cache_dir: Path) -> int:
    path = cache_dir / "results" / CACHE_FILE_NAME
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]


def test_plan_counts_what_the_run_computes_and_then_finds_it_cached(tmp_path, tiny_classifier_dir, tiny_causal_dir):
    loaded = load_config(_config(tmp_path, tiny_classifier_dir, tiny_causal_dir))
    before = plan_config(loaded).by_key()
    assert _rows(loaded.cache_dir) == 0                          # planning stored no result
    assert (loaded.cache_dir / CALIBRATION_FILE).is_file()       # the throughput measurement is kept
    run = Runner(loaded, tmp_path / "out", show_progress=False).run()
    calls = {(s.suite, s.model): s.details["model_calls"] for s in run.suites}
    acc = before["00-accuracy-clf"]
    assert acc.total_hits == 0 and acc.total_requests == 30
    assert acc.forward_passes == calls[("accuracy", "clf")]["forward_passes"]   # same batching
    assert acc.padded_tokens >= acc.real_tokens > 0 and acc.estimate_s > 0 and acc.flops > 0
    bias = before["01-bias-lm"]
    assert bias.total_requests - bias.total_hits >= calls[("bias", "lm")]["cache_misses"] > 0
    after = plan_config(loaded).by_key()
    assert after["00-accuracy-clf"].total_hits == 30 and after["00-accuracy-clf"].model_s == 0   # all cached
    assert after["01-bias-lm"].total_hits > 0


def test_budget_refuses_with_exit_2_before_anything_runs(tmp_path, tiny_classifier_dir, tiny_causal_dir, capsys):
    path = _config(tmp_path, tiny_classifier_dir, tiny_causal_dir, "budget: {max_requests: 5}\n")
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert "over budget" in err and "budget.max_requests 5" in err
    assert main([str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    assert not (tmp_path / "out" / "results.json").exists()
    assert "over budget" in capsys.readouterr().err


def test_time_budget_refuses_the_run_before_any_model_loads(tmp_path, tiny_classifier_dir, tiny_causal_dir,
                                                             capsys, monkeypatch):
    """A run whose estimate exceeds budget.max_seconds: exit 2 with the reason from the CLI, and
    BudgetExceeded from the Python API, with no model loaded and no results written."""
    import audit.run.runner as runner_module
    from audit.api import run_audit
    from audit.plan.budget import BudgetExceeded

    loads: list[str] = []
    monkeypatch.setattr(runner_module, "load_adapter", lambda name, *a, **k: loads.append(name))
    path = _config(tmp_path, tiny_classifier_dir, tiny_causal_dir, "budget: {max_seconds: 0.001}\n")
    assert main([str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "run refused, over budget" in err and "> budget.max_seconds 0.001" in err and "largest job" in err
    with pytest.raises(BudgetExceeded, match="budget.max_seconds 0.001"):
        run_audit(path, tmp_path / "api-out", show_progress=False)
    assert loads == [] and not (tmp_path / "out" / "results.json").exists()
    assert not (tmp_path / "api-out" / "results.json").exists()
    monkeypatch.undo()                                                     # null control: a generous budget
    generous = _config(tmp_path, tiny_classifier_dir, tiny_causal_dir, "budget: {max_seconds: 100000}\n")
    run, _ = run_audit(generous, tmp_path / "api-ok", show_progress=False)
    assert all(s.details["plan"]["estimate_s"] > 0 for s in run.suites)    # planned, then run


@pytest.mark.parametrize("budget", ["budget: {max_requests: 100000, max_seconds: 100000}\n"])
def test_generous_budget_runs_and_keeps_estimate_next_to_real_time(tmp_path, tiny_classifier_dir, tiny_causal_dir,
                                                                  capsys, budget):
    path = _config(tmp_path, tiny_classifier_dir, tiny_causal_dir, budget)
    assert main([str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    assert "(plan " in capsys.readouterr().out
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    for suite in data["suites"]:
        plan = suite["details"]["plan"]
        assert plan["estimate_s"] > 0 and plan["measured_s"] == suite["duration_s"]


def test_generation_is_planned_as_a_prefill_and_one_decoding_call_per_new_token(tmp_path, tiny_causal_dir):
    """generate is simulated (it crashed on the meta-device model before): the planned requests equal
    the real run's, each batch is a prefill plus max_new_tokens - 1 decoding calls, and the calibration
    measured the decoding step and the vocabulary head that these batches are costed with."""
    prompts = tmp_path / "tox.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "stratum": "control", "text": t}) + "\n"
                               for i, t in enumerate(["the bread is", "my neighbour is", "the weather"])))
    path = write(tmp_path / "audit.yaml", f"""
models:
  lm: {{path: {tiny_causal_dir}, kind: causal_lm}}
suites:
  - suite: generation_safety
    config: {{parts: [toxicity], toxicity: {{prompts: {prompts}, k: 2, max_new_tokens: 5}}}}
""")
    loaded = load_config(path)
    plan = plan_config(loaded)
    job = plan.jobs[0]
    assert job.error is None and job.requests.get("generate") == 6          # 3 prompts x k = 2
    assert job.model_s > 0 and job.estimate_s >= job.model_s
    speeds = list(plan.calibrations.values())
    assert any(s["decode_step"] > 0 and s["head_per_position"] > 0 for s in speeds), speeds
    run = Runner(loaded, tmp_path / "out", show_progress=False).run()
    assert run.suites[0].details["model_calls"]["cache_misses"] == 6


def test_calibration_measures_sampler_optimizer_and_new_shape_costs(tiny_causal_dir):
    """The costs the first plans missed (the seeded sampler's vocabulary sort, AdamW's step, kernels
    built per new batch shape) are measured, in wall-clock seconds, on a random copy of the model."""
    import torch
    import transformers

    from audit.plan.calibrate import inference_shapes, measure

    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_causal_dir).eval()
    speed = measure(model, int(model.config.vocab_size), "cpu")
    assert speed.per_token > 0 and speed.backward_ratio >= 1.0
    assert speed.sample_per_row > 0 and speed.optimizer_per_param > 0 and speed.new_shape >= 0
    assert speed.head_per_position > 0 and speed.decode_step > 0
    assert all(n * length == 4096 for n, length in inference_shapes("cpu"))     # the adapter's CPU budget
    assert all(p.grad is None for p in model.parameters())                     # the optimizer probe cleans up
    assert torch.is_grad_enabled()


def test_costing_counts_sampling_first_shapes_and_the_optimizer():
    """Sampled decoding costs more than greedy; only the first batch at a shape pays `new_shape`; a full
    fine-tune pays its optimizer steps, a head-only one does not; derived copies share a calibration."""
    from types import SimpleNamespace

    import torch

    from audit.models.adapters.simulated import BatchRecord
    from audit.plan import estimate
    from audit.plan.calibrate import Throughput

    speed = Throughput(per_token=1e-4, per_token_per_length=0.0, backward_ratio=3.0, threads=1, measured_s=0.0,
                       per_call=0.01, head_per_position=1e-4, decode_step=0.05, decode_per_row=1e-3,
                       sample_per_row=2e-3, optimizer_per_param=1e-8, new_shape=0.02)
    layer = torch.nn.Linear(10, 10)
    config = SimpleNamespace(hidden_size=10, vocab_size=100)
    adapter = SimpleNamespace(rt=SimpleNamespace(model=SimpleNamespace(parameters=layer.parameters, config=config)),
                              dtype=torch.float32, device="cpu")
    greedy = BatchRecord("generate", 16, 160, 160, 30, calls=9)
    sampled = BatchRecord("generate", 16, 160, 160, 30, calls=9, sampled=True)
    g, s = estimate._batch_cost(greedy, adapter, speed)[0], estimate._batch_cost(sampled, adapter, speed)[0]
    assert s - g == pytest.approx(9 * 16 * 2e-3)

    calibrator = estimate.Calibrator.__new__(estimate.Calibrator)
    calibrator.shapes = set()
    scoring = BatchRecord("classify_logits", 32, 900, 1024, 32, folder="m")
    assert calibrator.first_at_shape(scoring) and not calibrator.first_at_shape(scoring)
    assert calibrator.first_at_shape(BatchRecord("classify_logits", 31, 900, 992, 32, folder="m"))
    assert not calibrator.first_at_shape(greedy)                       # decoding: measured with its warm-up

    run = {"steps": 10, "batch_size": 8, "max_length": 64, "mean_chars": 80.0, "train_only": [], "dp": False}
    full, _ = estimate._training_cost(run, adapter, speed)
    head_only, _ = estimate._training_cost({**run, "train_only": ["classifier"]}, adapter, speed)
    params = sum(p.numel() for p in layer.parameters())
    assert full - head_only * speed.backward_ratio / estimate.HEAD_ONLY_TRAIN_FACTOR == pytest.approx(
        10 * params * 1e-8)


def test_a_derived_copy_shares_its_base_architecture_calibration(tiny_causal_dir):
    from types import SimpleNamespace

    import transformers

    from audit.plan.estimate import arch_hash

    base = transformers.AutoConfig.from_pretrained(tiny_causal_dir)
    copy = transformers.AutoConfig.from_pretrained(tiny_causal_dir)
    copy._name_or_path = "/somewhere/else/randomised-copy"
    wider = transformers.AutoConfig.from_pretrained(tiny_causal_dir, hidden_size=base.hidden_size * 2)

    def adapter(config):
        return SimpleNamespace(rt=SimpleNamespace(model=SimpleNamespace(config=config)))

    assert arch_hash(adapter(base)) == arch_hash(adapter(copy)) != arch_hash(adapter(wider))
