"""No silent wrong answers (#17): each input that used to be accepted with a wrong result is refused,
with one line naming the file/key/row, exit 2, before any model loads."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

import audit.cli.app as cli
from audit.config.schema import load_config
from audit.errors import ConfigError, ModelLoadError
from audit.models.adapters.checks import load_tokenizer, safetensors_header
from audit.models.adapters.loading import check_model
from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec
from audit.run.outdir import LOCK_FILE, PREVIOUS_DIR, OutputFolder, remove_stray_temp_files

ROWS = [("a", "a wonderful film", "positive"), ("b", "a dull film", "negative"), ("c", "quietly brilliant", "positive")]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def jsonl(path: Path, rows=ROWS, **override) -> Path:
    lines = [json.dumps({"id": i, "text": t, "label": lab, **override}) for i, t, lab in rows]
    return write(path, "\n".join(lines) + "\n")


def config(tmp_path: Path, model: Path, suites: str, gates: str = "", extra_models: str = "") -> Path:
    return write(tmp_path / "audit.yaml", f"models:\n  m: {{path: {model}}}\n{extra_models}suites:\n{suites}"
                                          + (f"gates:\n{gates}" if gates else ""))


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


ACCURACY = "  - suite: accuracy\n    config:\n      datasets: [{{name: d, path: {path}}}]\n"


# ---------------------------------------------------------------- a model folder without tokenizer files
def test_model_folder_without_tokenizer_files_is_refused(tmp_path, tiny_classifier_dir, capsys):
    folder = tmp_path / "no_tok"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_classifier_dir / name, folder / name)
    with pytest.raises(ModelLoadError, match="no tokenizer files"):
        load_adapter("m", ModelSpec(path=str(folder)), prepared_dir=tmp_path, cache_dir=None)
    data = jsonl(tmp_path / "d.jsonl")
    code, out, err = run_cli(capsys, config(tmp_path, folder, ACCURACY.format(path=data)), "--out", tmp_path / "o")
    assert code == 2 and f"models.m: {folder}: no tokenizer files" in err.splitlines()[0]
    assert not (tmp_path / "o" / "results.json").exists()
    assert check_model(ModelSpec(path=str(tiny_classifier_dir)), tmp_path) == []        # null control


def test_tokenizer_that_cannot_round_trip_is_refused(tmp_path, tiny_classifier_dir):
    folder = tmp_path / "tiny_vocab"
    shutil.copytree(tiny_classifier_dir, folder)
    (folder / "tokenizer.json").unlink()
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n")   # the 5-token trap
    with pytest.raises(ModelLoadError, match="does not round-trip a test sentence"):
        load_tokenizer(folder, trust_remote_code=False)
    load_tokenizer(tiny_classifier_dir, trust_remote_code=False)                     # null control


def test_truncated_safetensors_unknown_type_remote_code_and_label_count_are_one_line(tmp_path, tiny_classifier_dir):
    def copy(name: str) -> Path:
        return Path(shutil.copytree(tiny_classifier_dir, tmp_path / name))

    cut = copy("cut")
    data = (cut / "model.safetensors").read_bytes()
    (cut / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="truncated safetensors"):
        safetensors_header(cut / "model.safetensors")
    cases = {"cut": "truncated safetensors"}
    for name, edit, needle in (("typ", {"model_type": "fancy-new-arch"}, "model_type: 'fancy-new-arch'"),
                               ("remote", {"auto_map": {"AutoModel": "m.M"}}, "remote code"),
                               ("labels", {"id2label": {"0": "a", "1": "b", "2": "c"},
                                           "label2id": {"a": 0, "b": 1, "c": 2}}, "3 label(s)")):
        folder = copy(name)
        cfg = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**cfg, **edit}))
        cases[name] = needle
    for name, needle in cases.items():
        problems = check_model(ModelSpec(path=str(tmp_path / name)), tmp_path)
        assert len(problems) == 1 and needle in problems[0] and "\n" not in problems[0], (name, problems)
        with pytest.raises(ModelLoadError) as err:
            load_adapter("m", ModelSpec(path=str(tmp_path / name)), prepared_dir=tmp_path, cache_dir=None)
        assert "\n" not in str(err.value) and str(tmp_path / name) in str(err.value)


# ---------------------------------------------------------------- blank text, blank groups, 0/1 labels
@pytest.mark.parametrize("suite", ["accuracy", "robustness", "explainability", "privacy", "fairness"])
def test_blank_text_cells_are_refused_by_every_suite_reading_labelled_data(tmp_path, tiny_classifier_dir, capsys,
                                                                           suite):
    rows = ROWS + [("d", "   ", "negative")]
    data = jsonl(tmp_path / "d.jsonl", rows)
    blocks = {
        "accuracy": ACCURACY.format(path=data),
        "robustness": f"  - suite: robustness\n    config: {{data: {{path: {data}}}}}\n",
        "explainability": f"  - suite: explainability\n    config: {{examples: {{dataset: {{path: {data}}}, n: 2}}}}\n",
        "privacy": f"  - suite: privacy\n    config: {{parts: [membership], membership: {{reference: null, members: {{path: {data}}}, "
                   f"non_members: [{{path: {data}}}]}}}}\n",
        "fairness": "  - suite: bias\n    config: {fairness: {dataset: " + str(tmp_path / "f.csv") + ", "
                    "text_column: text, label_column: label, positive_label: positive, sensitive_columns: [g]}}\n"}
    write(tmp_path / "f.csv", "text,label,g\ngood,positive,x\n  ,negative,y\n")
    code, out, err = run_cli(capsys, config(tmp_path, tiny_classifier_dir, blocks[suite]), "--out", tmp_path / "o")
    first = err.splitlines()[0]
    assert code == 2 and "row" in first and "'text'" in first and "blank" in first, err
    assert "d.jsonl: row 4" in first or "f.csv: row 2" in first


def test_on_blank_drop_counts_the_dropped_rows(tmp_path, tiny_classifier_dir, capsys):
    data = jsonl(tmp_path / "d.jsonl", ROWS + [("d", "", "negative")])
    block = f"  - suite: accuracy\n    config:\n      datasets: [{{name: d, path: {data}, on_blank: drop}}]\n"
    code, out, err = run_cli(capsys, config(tmp_path, tiny_classifier_dir, block), "--out", tmp_path / "o",
                             "--no-progress")
    assert code == 0, err
    result = json.loads((tmp_path / "o" / "results.json").read_text())["suites"][0]
    assert result["details"]["subsets"]["d"]["dropped_blank_rows"] == 1
    assert result["details"]["subsets"]["d"]["ids"] == ["a", "b", "c"]


def test_zero_one_labels_need_a_label_map(tmp_path, tiny_classifier_dir, capsys):
    data = write(tmp_path / "d.csv", "id,text,label\na,good,1\nb,bad,0\n")
    code, _, err = run_cli(capsys, config(tmp_path, tiny_classifier_dir, ACCURACY.format(path=data)),
                           "--out", tmp_path / "o")
    assert code == 2 and "d.csv: row 1 (id a): label 1" in err.splitlines()[0] and "label_map" in err


def test_repeated_ids_are_refused(tmp_path, tiny_classifier_dir, capsys):
    data = jsonl(tmp_path / "d.jsonl", ROWS + [("a", "again", "positive")])
    code, _, err = run_cli(capsys, config(tmp_path, tiny_classifier_dir, ACCURACY.format(path=data)),
                           "--out", tmp_path / "o")
    assert code == 2 and "row 4: id 'a' in column 'id' is repeated" in err.splitlines()[0]


# ---------------------------------------------------------------- YAML, gates, batch_size, device
@pytest.mark.parametrize("text, where", [
    ("models:\n  a: {path: x}\n  a: {path: y}\nsuites: [{suite: accuracy}]\n", "duplicate key 'a' (first at line 2)"),
    ("models:\n  a: {path: x, path: y}\nsuites: [{suite: accuracy}]\n", "duplicate key 'path'"),
    ("models:\n  a: {path: x}\nsuites: [{suite: accuracy}]\nsuites: []\n", "duplicate key 'suites'"),
    ("models:\n  a: {path: x}\nsuites:\n  - suite: accuracy\n    config: {datasets: [{name: d, name: e}]}\n",
     "duplicate key 'name'"),
])
def test_duplicate_yaml_keys_are_an_error_at_every_level(tmp_path, text, where):
    with pytest.raises(ConfigError, match=r"invalid YAML at line \d+, column \d+: " + where.replace("(", r"\(")
                       .replace(")", r"\)")):
        load_config(write(tmp_path / "c.yaml", text))
    load_config(write(tmp_path / "ok.yaml", "models:\n  a: {path: x}\n  b: {path: x}\nsuites: [{suite: accuracy}]\n"))


@pytest.mark.parametrize("body, needle", [
    ("gates: [{metric: accuracy.accuracy, min: 0.9, max: 0.1}]\n", "gates[0]: Value error, min 0.9 is above max 0.1"),
    ("models:\n  m: {path: x, batch_size: 0}\n", "models.m.batch_size"),
    ("models:\n  m: {path: x, device: tpu}\n", "models.m.device"),
])
def test_impossible_gate_batch_size_zero_and_unknown_device_are_config_errors(tmp_path, body, needle):
    base = "models:\n  m: {path: x}\n" if not body.startswith("models") else ""
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path / "c.yaml", base + body + "suites: [{suite: accuracy}]\n"))
    assert needle in str(err.value)


def test_gate_on_a_metric_no_selected_suite_emits_is_a_config_error(tmp_path, tiny_classifier_dir, capsys):
    data = jsonl(tmp_path / "d.jsonl")
    gates = "  - 'accuracy.acuracy >= 0.5'\n  - {metric: crows_pairs.metric, max: 0.6}\n"
    code, _, err = run_cli(capsys, config(tmp_path, tiny_classifier_dir, ACCURACY.format(path=data), gates),
                           "--out", tmp_path / "o")
    lines = err.splitlines()
    assert code == 2 and "gates[0].metric: 'accuracy.acuracy' is not a metric that accuracy can emit" in lines[0]
    assert "gates[1].metric: 'crows_pairs.metric'" in lines[1]
    ok = config(tmp_path, tiny_classifier_dir, ACCURACY.format(path=data), "  - 'accuracy.accuracy >= 0.0'\n")
    assert run_cli(capsys, ok, "--out", tmp_path / "o2", "--no-progress")[0] == 0       # null control


def test_all_problems_are_listed_together_before_any_model_loads(tmp_path, tiny_classifier_dir, capsys, monkeypatch):
    import audit.run.runner as runner_module

    def no_load(*_):
        raise AssertionError("a model was loaded before the preflight finished")

    monkeypatch.setattr(runner_module, "default_adapter_loader", no_load)
    blocks = ACCURACY.format(path=tmp_path / "missing.jsonl") + \
        "  - suite: robustness\n    config: {data: {path: " + str(tmp_path / "gone.csv") + "}}\n"
    code, _, err = run_cli(capsys, config(tmp_path, tiny_classifier_dir, blocks, "  - 'accuracy.nope >= 1'\n"),
                           "--out", tmp_path / "o")
    assert code == 2
    assert "missing.jsonl" in err and "gone.csv" in err and "accuracy.nope" in err and "3 problems found" in err


def test_runs_store_on_a_missing_path_is_an_error(tmp_path, capsys):
    missing = tmp_path / "typo.sqlite"
    code, _, err = run_cli(capsys, "runs", "--store", missing)
    assert code == 2 and f"--store {missing}: no such run history file" in err and not missing.exists()


# ---------------------------------------------------------------- output folders that never lie
def test_a_run_that_does_not_finish_leaves_no_stale_outputs(tmp_path, tiny_classifier_dir, capsys, monkeypatch):
    data = jsonl(tmp_path / "d.jsonl")
    cfg = config(tmp_path, tiny_classifier_dir, ACCURACY.format(path=data))
    out = tmp_path / "o"
    assert run_cli(capsys, cfg, "--out", out, "--no-progress")[0] == 0
    assert (out / "results.json").exists() and (out / "junit.xml").exists()
    import audit.run.runner as runner_module

    def killed(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_module.Runner, "run", killed)
    code, _, err = run_cli(capsys, cfg, "--out", out, "--fresh", "--no-progress")
    assert code == 130
    assert not (out / "results.json").exists() and not (out / "report.html").exists()
    assert not (out / "junit.xml").exists() and (out / PREVIOUS_DIR / "results.json").exists()
    assert not (out / LOCK_FILE).exists()


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_lives(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"pid": os.getppid(), "host": os.uname().nodename}))
    with pytest.raises(ConfigError, match=rf"--out {out}: another run \(pid {os.getppid()}\)"):
        OutputFolder(out).__enter__()
    (out / LOCK_FILE).write_text(json.dumps({"pid": 2 ** 22 + 12345, "host": os.uname().nodename}))  # a dead pid
    with OutputFolder(out):
        assert json.loads((out / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert not (out / LOCK_FILE).exists()



@pytest.mark.parametrize("how", ["under_a_file", "mode_0o500"])
def test_an_unwritable_out_is_one_line_naming_the_out_path(tmp_path, tiny_classifier_dir, capsys, how):
    """#17: the error names --out as given, not the store path derived from it (OUT/../history.sqlite)."""
    parent = tmp_path / "p"
    if how == "under_a_file":                      # blocks writes even for root
        write(parent, "a file")
    else:
        parent.mkdir()
        parent.chmod(0o500)
        if os.access(parent, os.W_OK):
            parent.chmod(0o700)
            pytest.skip("running as root: mode 0o500 does not block writes (the 'under_a_file' case covers it)")
    out = parent / "out"
    try:
        code, _, err = run_cli(capsys, "run", config(tmp_path, tiny_classifier_dir,
                                                     ACCURACY.format(path=jsonl(tmp_path / "d.jsonl"))),
                               "--out", out, "--no-progress")
    finally:
        if parent.is_dir():
            parent.chmod(0o700)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and lines[0].startswith(f"error: --out {out}: ") and "history.sqlite" not in lines[0], err
    assert not (parent / "history.sqlite").exists()   # nothing was created before the refusal
def test_stray_temp_files_are_removed(tmp_path):
    (tmp_path / ".results.json.abc123.tmp").write_text("{")
    (tmp_path / ".state" / "jobs").mkdir(parents=True)
    (tmp_path / ".state" / "jobs" / ".x.json.q.tmp").write_text("{")
    (tmp_path / "keep.json").write_text("{}")
    assert remove_stray_temp_files(tmp_path) == 2
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["keep.json"]


def test_a_changed_dataset_is_rerun_on_resume_and_says_so(tmp_path, tiny_classifier_dir, capsys):
    data = jsonl(tmp_path / "d.jsonl")
    cfg = config(tmp_path, tiny_classifier_dir, ACCURACY.format(path=data))
    out = tmp_path / "o"
    assert run_cli(capsys, cfg, "--out", out, "--no-progress")[0] == 0
    first = json.loads((out / "results.json").read_text())
    code, _, err = run_cli(capsys, cfg, "--out", out, "--no-progress")
    assert code == 0 and "resuming run" in err                                     # unchanged: reused, and said
    jsonl(data, ROWS[:2])
    code, _, err = run_cli(capsys, cfg, "--out", out, "--no-progress")
    assert code == 0 and "not reusing" in err and "d.jsonl changed" in err
    again = json.loads((out / "results.json").read_text())
    assert first["suites"][0]["metrics"][0]["n"] == 3 and again["suites"][0]["metrics"][0]["n"] == 2


# ---------------------------------------------------------------- workflow
def test_run_prints_its_id_and_store_and_runs_survives_a_closed_pipe(tmp_path, tiny_classifier_dir, capsys,
                                                                     monkeypatch):
    data = jsonl(tmp_path / "d.jsonl")
    code, out, _ = run_cli(capsys, config(tmp_path, tiny_classifier_dir, ACCURACY.format(path=data)),
                           "--out", tmp_path / "o", "--no-progress")
    run_id = json.loads((tmp_path / "o" / "results.json").read_text())["run_id"]
    store = tmp_path / "cache" / "history.sqlite"                 # the one default store (RAI_AUDIT_CACHE)
    assert code == 0 and f"run id: {run_id} (recorded in sqlite:///{store}" in out
    monkeypatch.chdir(tmp_path / "o")                            # runs/compare from another folder: same store
    assert run_cli(capsys, "runs", "tag", run_id, "baseline")[0] == 0

    def closed(*_):
        raise BrokenPipeError

    monkeypatch.setitem(cli.COMMANDS, "runs", closed)
    assert run_cli(capsys, "runs")[0] == 0


def test_preflight_is_fast_on_the_default_config_with_a_broken_last_suite(tmp_path, prepared_dir, capsys):
    """The default config (every suite) with one broken dataset path in its last suite: exit 2 naming the file,
    within 30 s, before any model loads."""
    text = (Path(__file__).resolve().parents[1] / "examples" / "default.yaml").read_text()
    marker = "        reference: control"
    assert text.count(marker) == 1 and prepared_dir.name == "prepared"
    broken = text.replace(marker, "        members: {path: no_such_members.jsonl}\n" + marker)
    cfg = write(tmp_path / "default.yaml", f"cache_dir: {prepared_dir.parent}\n" + broken)
    started = time.perf_counter()
    code, _, err = run_cli(capsys, cfg, "--out", tmp_path / "o")
    seconds = time.perf_counter() - started
    print(f"preflight of the broken default config: {seconds:.1f} s")
    assert code == 2 and "no_such_members.jsonl" in err.splitlines()[0], err
    assert seconds < 30


# ---------------------------------------------------------------- comparability of numerics
def _run_with(dtype: str, device: str, isa: list[str]):
    from audit.results import AuditRun, ModelProvenance, Provenance, Status

    details = {"dtype": dtype, "device": device, "cpu_isa": isa}
    return AuditRun(run_id=f"{dtype}-{device}-{len(isa)}", status=Status.PASSED,
                    provenance=Provenance(models={"m": ModelProvenance(path="p", sha256="s", kind="classifier",
                                                                       details=details)}))


@pytest.mark.parametrize("other, needle", [
    (("bfloat16", "cpu", ["avx2", "amx_bf16"]), "resolved dtype differs"),
    (("float32", "cuda:0", []), "device type differs"),
    (("float32", "cpu", ["avx2", "avx512f"]), "CPU instruction set differs"),
])
def test_comparison_across_dtype_device_or_cpu_isa_is_refused_unless_forced(other, needle):
    from audit.regression.compare import ComparisonRefused, check_comparable

    base = _run_with("float32", "cpu", ["avx2"])
    with pytest.raises(ComparisonRefused, match=needle + ".*--force"):
        check_comparable(base, _run_with(*other))
    assert any(needle in line for line in check_comparable(base, _run_with(*other), force=True))   # listed
    assert check_comparable(base, _run_with("float32", "cpu", ["avx2"])) == []                    # null control


def test_terminal_comparison_keeps_long_names_and_shows_the_condition(capsys):
    from audit.cli.history import comparison_verdict, metric_label, print_comparison
    from audit.results import Comparison, Condition, MetricChange, Status

    long = MetricChange(suite="robustness", model="minilm-sentiment", metric="perturb.accuracy",
                        group={"perturbation": "keyboard_typos_substitute", "severity": "3"},
                        condition=Condition.WORST_CASE, baseline=0.8, candidate=0.7, difference=0.1, n_paired=50,
                        test="mcnemar", p_value=0.001, p_adjusted=0.002, regression=True, worse_by=0.1, tolerance=0.0)
    comparison = Comparison(baseline_run_id="a", candidate_run_id="b", alpha=0.05, correction="holm",
                            status=Status.FAILED, metrics=[long])
    print_comparison(comparison)
    out = capsys.readouterr().out
    assert metric_label(long) in out and "(worst_case)" in metric_label(long)
    assert out.strip().splitlines()[-1] == comparison_verdict(comparison)
    assert comparison_verdict(comparison).startswith("verdict: REGRESSION in 1 of 1 tested metric(s)")


def test_compare_on_an_errored_candidate_names_the_error_not_the_data():
    from audit.regression.compare import compare_runs
    from audit.results import AuditRun, DatasetProvenance, Provenance, Status

    base = AuditRun(run_id="base", status=Status.PASSED, provenance=Provenance(
        datasets={"d.csv": DatasetProvenance(path="d.csv", sha256="a" * 64)}))
    errored = AuditRun(run_id="cand", status=Status.ERROR, provenance=Provenance())
    comparison = compare_runs(base, errored)
    assert comparison.status == Status.ERROR and "has status 'error'" in comparison.message
    assert "--force" not in comparison.message and "dataset" not in comparison.message


def test_summary_shows_the_condition_next_to_a_metric_name():
    from audit.results import AuditRun, Condition, Metric, Provenance, Status, SuiteResult
    from reports.markdown import run_markdown

    result = SuiteResult(suite="robustness", suite_version="1", model="m", metrics=[
        Metric(name="perturb.accuracy", value=0.9, n=10),
        Metric(name="perturb.accuracy", value=0.6, n=10, condition=Condition.WORST_CASE)])
    text = run_markdown(AuditRun(run_id="r", status=Status.PASSED, provenance=Provenance(), suites=[result]))
    assert "`perturb.accuracy` 0.9" in text.replace("90.0%", "0.9") or "`perturb.accuracy` " in text
    assert "`perturb.accuracy` (worst_case)" in text


def test_runs_on_a_default_store_that_does_not_exist_creates_nothing(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "runs")
    assert code == 0 and "no runs recorded yet" in out and not (tmp_path / "cache" / "history.sqlite").exists()
    code, _, err = run_cli(capsys, "runs", "tag", "abc", "baseline")
    assert code == 2 and "no run or tag 'abc': no run history at" in err and not (tmp_path / "cache" / "history.sqlite").exists()
