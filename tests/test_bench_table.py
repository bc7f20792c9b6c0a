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


@pytest.mark.slow
def test_table_on_random_models_runs_every_row_and_agrees(tmp_path, real_minilm_dir, prepared_dir, monkeypatch):
    """The --device cuda path's models (random weights, small sizes here) through every bench on the CPU:
    each row is measured and the outputs agree with the tool compared (about a minute; the DP row once
    lost the whole table to an argparse error)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert main(["--random-models", "small", "--prepared", str(prepared_dir), "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "table-cpu-random-small.json").read_text())
    rows = {row["bench"]: row for row in result["rows"]}
    assert set(rows) == {"fill_mask", "crows_pairs", "explain", "attack", "dp", "lm_eval_task", "generation"}
    for row in result["rows"]:
        assert row["ours_s"] > 0 and row["theirs_over_ours"] > 0 and row["ours_over_floor"] > 0, row
    assert rows["fill_mask"]["agreement"].startswith("identical top-5 100%")   # same fills as pipeline("fill-mask")
    assert rows["crows_pairs"]["agreement"] == "max|dscore| 0.0e+00"
    assert rows["attack"]["agreement"] == "identical outcomes 6/6"
    assert rows["lm_eval_task"]["agreement"].startswith("same per-doc acc 100%")
    assert "bert-base-classifier" in result["models"]
    text = (tmp_path / "table-cpu-random-small.md").read_text()
    assert "command: `python -m bench.table --random-models small" in text and "random, small sizes" in text


def test_a_bench_that_exits_leaves_a_failed_row_and_the_others(monkeypatch):
    """A bench's argparse error is a SystemExit, not an Exception: it must not end the table."""
    import bench.table as table

    def exits(models):
        raise SystemExit(2)

    (row,) = table.rows_or_failure(exits, {})
    assert row["note"].startswith("failed: SystemExit") and row["ours_s"] is None and row["bench"] == "exits"


def test_random_models_without_the_prepared_tokenizer_are_exit_2(tmp_path, capsys):
    assert main(["--random-models", "small", "--prepared", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    assert "missing at" in capsys.readouterr().err and not (tmp_path / "table-cpu-random-small.md").exists()


def test_cuda_mode_without_a_gpu_is_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(["--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_generation_row_reads_what_bench_generate_writes(tmp_path, tiny_llama_dir, monkeypatch):
    """The table's generation row is built from bench/generate.py's own JSON (its row names changed
    once and the row silently failed): ratios and the texts' agreement come through."""
    import bench.table as table
    from bench import generate

    out = tmp_path / "g.json"
    generate.main(["--model", str(tiny_llama_dir), "--n", "2", "--max-new-tokens", "2", "--repeats", "1",
                   "--json", str(out)])
    written = json.loads(out.read_text())
    monkeypatch.setattr(table, "_run", lambda module, args: written if module == "generate" else {})
    (row,) = table.generation({})
    s = written["seconds"]
    assert row["theirs_over_ours"] == s[generate.ROW_LOOP] / s[generate.ROW_ADAPTER]
    assert row["ours_over_floor"] == s[generate.ROW_ADAPTER] / s[generate.ROW_FLOOR]
    assert row["agreement"] == f"greedy texts equal {written['greedy_texts_equal_to_pipeline']}"


def _table(rows: list[dict], date: str) -> dict:
    machine = {"platform": "p", "cpu": "x86_64", "cpu_isa": "avx2", "cpu_count": 2, "torch_threads": 2,
               "torch": "2", "load_average_1m": 1.0, "device": "cpu"}
    return {"device": "cpu", "command": "python -m bench.table", "date": date, "machine": machine,
            "models": "default", "rows": rows, "matmul": None, "seconds": 5.0}


def _r(path: str, ours: float, bench: str | None = None) -> dict:
    row = {"hot path": path, "compared with": "x", "theirs_s": 2.0, "ours_s": ours, "theirs_over_ours": 2.0 / ours,
           "ours_over_floor": None, "agreement": "", "note": ""}
    return row | ({"bench": bench} if bench else {})


def test_update_replaces_only_the_rerun_benches_rows_in_place():
    from bench.table import markdown, merged

    old = _table([_r("fill-mask probes", 1.0), _r("generation", 9.0), _r("SHAP", 3.0, "explain")], "d0")
    new = _table([_r("generation", 0.5, "generation")], "d1")
    result = merged(old, new, ["generation"])
    assert [(r["hot path"], r["ours_s"]) for r in result["rows"]] == [
        ("fill-mask probes", 1.0), ("generation", 0.5), ("SHAP", 3.0)]       # a pending row, matched by path
    assert result["date"] == "d0" and result["updates"][0]["date"] == "d1"
    text = markdown(result)
    assert "- updated: d1 (5 s), rows of generation re-run by `python -m bench.table`" in text
    again = merged(result, _table([_r("generation", 0.25, "generation")], "d2"), ["generation"])
    assert [r["ours_s"] for r in again["rows"]] == [1.0, 0.25, 3.0] and len(again["updates"]) == 2
