"""The benchmark table's --device cuda path on a CPU: random models of real sizes, correct outputs."""

from __future__ import annotations

import json

import pytest

from bench import random_models
from bench.table import main


def test_random_models_have_the_real_sizes():
    counts = random_models.parameter_counts("real")
    assert 105e6 < counts["bert-base-mlm"] < 115e6          # BERT-base: 110M
    assert 105e6 < counts["bert-base-classifier"] < 112e6
    assert 115e6 < counts["gpt2-small"] < 125e6             # GPT-2 small (124M with its own 50k vocabulary)
    assert 130e6 < counts["llama-135m"] < 140e6             # SmolLM2-135M's shape


def test_table_on_random_models_agrees_with_the_pipeline(tmp_path, real_minilm_dir, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    tokenizers = random_models.default_tokenizers()
    if not tokenizers["bpe"].is_dir():
        pytest.skip("the prepared smollm2-135m tokenizer is missing (run_audit.py prepare)")
    assert main(["--random-models", "small", "--only", "fill_mask", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "table-cpu-random-small.json").read_text())
    (row,) = result["rows"]
    assert row["hot path"] == "fill-mask probes" and row["ours_s"] > 0 and row["theirs_over_ours"] > 0
    assert row["agreement"].startswith("identical top-5 100%")           # same fills as pipeline("fill-mask")
    text = (tmp_path / "table-cpu-random-small.md").read_text()
    assert "command: `python -m bench.table --random-models small" in text and "random, small sizes" in text


def test_cuda_mode_without_a_gpu_is_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(["--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "no CUDA device" in capsys.readouterr().err
