"""Tests of the prepare step: the rt-polarity split, staged/idempotent builds, the fine-tune and
the SmolLM2 conversion helpers (tiny models), plus one slow test on the real prepared models."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audit.data.resolver import read_jsonl
from audit.errors import ConfigError, DataError
from audit.data.prepare.build import (ARTIFACT_NAMES, SENTIMENT_NAME, SMOLLM_NAME, SPLIT_NAME, missing_artifacts,
                           prepare)
from audit.data.prepare.manifest import (MANIFEST_NAME, STAGING_PREFIX, Artifact, PrepareError, ensure_artifact,
                                    is_complete, read_manifest)
from audit.data.prepare.sentiment import TRAINING_INFO_NAME, FineTuneRecipe, finetune_sentiment
from audit.data.prepare.smollm import SanityProbe, continuation_logprobs, sanity_check, strip_quantization
from audit.data.prepare.split import SOURCE_DIR, build_split

N_SENTENCES = 10_662


def _quiet(_: str) -> None:
    """A log sink for tests."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def real_split(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("split")
    build_split(folder, log=_quiet)
    return folder


def _source_lines() -> list[tuple[str, str]]:
    """(text, label) in source order, read independently of the code under test."""
    rows = []
    for name, label in (("rt-polarity.pos", "positive"), ("rt-polarity.neg", "negative")):
        rows += [(line.strip(), label) for line in (SOURCE_DIR / name).read_text("utf-8").splitlines()]
    return rows


# ---------------------------------------------------------------- split


def test_split_sizes_disjoint_and_complete(real_split):
    parts = {name: read_jsonl(real_split / f"{name}.jsonl") for name in ("train", "validation", "test")}
    assert {k: len(v) for k, v in parts.items()} == {"train": 8530, "validation": 1066, "test": 1066}
    ids = [set(row["id"] for row in rows) for rows in parts.values()]
    assert sum(map(len, ids)) == N_SENTENCES
    assert set.union(*ids) == {f"rt-{i}" for i in range(N_SENTENCES)}
    for rows in parts.values():
        assert all(set(row) == {"id", "text", "label"} for row in rows)
        assert {row["label"] for row in rows} == {"positive", "negative"}


def test_split_follows_seeded_permutation_and_source_lines(real_split):
    order = np.random.default_rng(0).permutation(N_SENTENCES)
    test_rows = read_jsonl(real_split / "test.jsonl")
    validation_rows = read_jsonl(real_split / "validation.jsonl")
    assert [row["id"] for row in test_rows] == [f"rt-{i}" for i in order[:1066]]
    assert [row["id"] for row in validation_rows] == [f"rt-{i}" for i in order[1066:2132]]
    source = _source_lines()
    for row in test_rows[:50] + validation_rows[-50:]:
        assert (row["text"], row["label"]) == source[int(row["id"][3:])]


def test_split_is_byte_for_byte_deterministic(real_split, tmp_path):
    build_split(tmp_path, log=_quiet)
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "split.json"):
        assert (tmp_path / name).read_bytes() == (real_split / name).read_bytes()
    other = tmp_path / "seed1"
    build_split(other, seed=1, log=_quiet)
    assert (other / "test.jsonl").read_bytes() != (real_split / "test.jsonl").read_bytes()


def test_split_labels_are_balanced(real_split):
    for name in ("train", "validation", "test"):
        labels = [row["label"] for row in read_jsonl(real_split / f"{name}.jsonl")]
        assert 0.45 <= labels.count("positive") / len(labels) <= 0.55, name


def test_split_json_records_hashes_and_counts(real_split):
    info = json.loads((real_split / "split.json").read_text())
    assert info["seed"] == 0
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl"):
        rows = read_jsonl(real_split / name)
        entry = info["files"][name]
        assert entry["sha256"] == _sha256(real_split / name)
        assert entry["rows"] == len(rows)
        assert entry["positive"] == sum(r["label"] == "positive" for r in rows)
        assert entry["positive"] + entry["negative"] == len(rows)
    assert info["sources"]["rt-polarity.pos"]["encoding"] == "utf-8"
    assert info["sources"]["rt-polarity.neg"]["sha256"] == _sha256(SOURCE_DIR / "rt-polarity.neg")


def _write_source(folder: Path, pos: bytes, neg: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rt-polarity.pos").write_bytes(pos)
    (folder / "rt-polarity.neg").write_bytes(neg)
    return folder


def test_split_falls_back_to_latin1_and_says_so(tmp_path):
    pos = b"".join(b"good %d\n" % i for i in range(6)) + b"caf\xe9 is great\n"
    neg = b"".join(b"bad %d\n" % i for i in range(7))
    source = _write_source(tmp_path / "src", pos, neg)
    messages: list[str] = []
    info = build_split(tmp_path / "out", source_dir=source, held_out=2, log=messages.append)
    assert info["sources"]["rt-polarity.pos"]["encoding"] == "latin-1"
    assert info["sources"]["rt-polarity.neg"]["encoding"] == "utf-8"
    assert any("rt-polarity.pos" in m and "line 7" in m and "latin-1" in m for m in messages)
    texts = {row["id"]: row["text"] for name in ("train", "validation", "test")
             for row in read_jsonl(tmp_path / "out" / f"{name}.jsonl")}
    assert texts["rt-6"] == "café is great"
    assert len(texts) == 14


def test_split_errors_name_file_and_line(tmp_path):
    with pytest.raises(DataError, match=r"rt-polarity\.pos.*not found"):
        build_split(tmp_path / "out", source_dir=tmp_path / "nowhere", log=_quiet)
    source = _write_source(tmp_path / "blank", b"good\n\nfine\n", b"bad\n")
    with pytest.raises(DataError, match=r"rt-polarity\.pos: line 2 is empty"):
        build_split(tmp_path / "out", source_dir=source, log=_quiet)
    source = _write_source(tmp_path / "few", b"good\nfine\n", b"bad\n")
    with pytest.raises(DataError, match="too few"):
        build_split(tmp_path / "out", source_dir=source, held_out=2, log=_quiet)


# ---------------------------------------------------------------- staged, idempotent builds


class FakeBuilder:
    """Writes one file; counts calls; can fail half-way like a killed run."""

    def __init__(self, fail: BaseException | None = None, payload: str = "weights") -> None:
        self.calls = 0
        self.fail = fail
        self.payload = payload

    def __call__(self, folder: Path, log) -> dict:
        self.calls += 1
        assert not (folder / MANIFEST_NAME).exists()  # the manifest comes after the build
        (folder / "sub").mkdir()
        (folder / "sub" / "model.bin").write_text(self.payload)
        if self.fail is not None:
            raise self.fail
        return {"accuracy": 0.9}


def test_ensure_artifact_builds_once_then_reuses(tmp_path):
    builder = FakeBuilder()
    artifact = Artifact("fake", {"lr": 5e-5}, builder)
    first = ensure_artifact(tmp_path, artifact, log=_quiet)
    second = ensure_artifact(tmp_path, artifact, log=_quiet)
    assert builder.calls == 1
    assert (first["status"], second["status"]) == ("built", "reused")
    assert second["info"] == {"accuracy": 0.9}
    manifest = read_manifest(tmp_path / "fake")
    assert manifest["files"] == {"sub/model.bin": {"bytes": 7, "sha256": hashlib.sha256(b"weights").hexdigest()}}
    assert manifest["recipe"] == {"lr": 5e-5}
    assert [p.name for p in tmp_path.iterdir()] == ["fake"]  # no staging/trash left behind
    for path in (tmp_path / "fake", tmp_path / "fake" / MANIFEST_NAME, tmp_path / "fake" / "sub" / "model.bin"):
        assert path.stat().st_mode & 0o044 == 0o044, path  # a shared cache is readable by others


def test_force_and_recipe_change_rebuild(tmp_path):
    builder = FakeBuilder()
    ensure_artifact(tmp_path, Artifact("fake", {"lr": 5e-5}, builder), log=_quiet)
    assert ensure_artifact(tmp_path, Artifact("fake", {"lr": 5e-5}, builder), force=True,
                           log=_quiet)["status"] == "built"
    assert ensure_artifact(tmp_path, Artifact("fake", {"lr": 1e-4}, builder), log=_quiet)["status"] == "built"
    assert builder.calls == 3
    assert read_manifest(tmp_path / "fake")["recipe"] == {"lr": 1e-4}
    assert not is_complete(tmp_path / "fake", {"lr": 5e-5})
    assert is_complete(tmp_path / "fake", {"lr": 1e-4}) and is_complete(tmp_path / "fake")


def test_killed_build_leaves_no_folder_and_is_rebuilt(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        ensure_artifact(tmp_path, Artifact("fake", {}, FakeBuilder(fail=KeyboardInterrupt())), log=_quiet)
    assert list(tmp_path.iterdir()) == []
    # a process killed with SIGKILL cannot clean up: its staging folder stays until the next run
    leftover = tmp_path / f"{STAGING_PREFIX}fake-abc123"
    leftover.mkdir()
    (leftover / "model.bin").write_text("half")
    builder = FakeBuilder()
    assert ensure_artifact(tmp_path, Artifact("fake", {}, builder), log=_quiet)["status"] == "built"
    assert builder.calls == 1 and not leftover.exists()


def test_failed_rebuild_keeps_the_previous_complete_folder(tmp_path):
    ensure_artifact(tmp_path, Artifact("fake", {}, FakeBuilder(payload="old")), log=_quiet)
    with pytest.raises(RuntimeError):
        ensure_artifact(tmp_path, Artifact("fake", {}, FakeBuilder(fail=RuntimeError("boom"))),
                        force=True, log=_quiet)
    assert (tmp_path / "fake" / "sub" / "model.bin").read_text() == "old"
    assert is_complete(tmp_path / "fake")


def test_half_written_or_damaged_folder_is_rebuilt(tmp_path):
    folder = tmp_path / "fake"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "model.bin").write_text("half")  # no manifest: an older killed run
    builder = FakeBuilder()
    assert ensure_artifact(tmp_path, Artifact("fake", {}, builder), log=_quiet)["status"] == "built"
    (folder / "sub" / "model.bin").write_text("trunc")  # size no longer matches the manifest
    assert not is_complete(folder)
    assert ensure_artifact(tmp_path, Artifact("fake", {}, builder), log=_quiet)["status"] == "built"
    (folder / MANIFEST_NAME).write_text("{not json")
    assert not is_complete(folder)
    assert builder.calls == 2


def test_build_that_writes_nothing_is_an_error(tmp_path):
    with pytest.raises(PrepareError, match="wrote no files"):
        ensure_artifact(tmp_path, Artifact("empty", {}, lambda folder, log: {}), log=_quiet)
    assert not (tmp_path / "empty").exists()


def test_prepare_split_only_is_idempotent(tmp_path):
    first = prepare(tmp_path, models=[], log=_quiet)
    second = prepare(tmp_path, models=[], log=_quiet)
    assert first["artifacts"][SPLIT_NAME]["status"] == "built"
    assert second["artifacts"][SPLIT_NAME]["status"] == "reused"
    assert list(first["artifacts"]) == [SPLIT_NAME] and first["accuracy"] is None
    assert missing_artifacts(tmp_path) == [SENTIMENT_NAME, SMOLLM_NAME]
    assert second["artifacts"][SPLIT_NAME]["info"]["files"]["test.jsonl"]["rows"] == 1066


def test_prepare_rejects_unknown_model(tmp_path):
    with pytest.raises(ConfigError, match="'gpt-5'"):
        prepare(tmp_path, models=["gpt-5"], log=_quiet)
    with pytest.raises(ConfigError, match="train_limit must be at least 1"):
        prepare(tmp_path, models=[SENTIMENT_NAME], train_limit=0, log=_quiet)
    assert ARTIFACT_NAMES[0] == SPLIT_NAME  # the split is built before the model trained on it


# ---------------------------------------------------------------- fine-tune (tiny model)


@pytest.fixture(scope="module")
def tiny_split(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_split")
    pos = "".join(f"a good , warm and funny film number {i} .\n" for i in range(60)).encode()
    neg = "".join(f"a dull , bad and boring mess number {i} .\n" for i in range(60)).encode()
    source = _write_source(root / "src", pos, neg)
    build_split(root / "split", source_dir=source, held_out=20, log=_quiet)
    return root / "split"


def test_finetune_records_accuracy_that_an_independent_pipeline_reproduces(tiny_split, tiny_classifier_dir,
                                                                             tmp_path):
    from transformers import pipeline

    recipe = FineTuneRecipe(train_limit=48, batch_size=16, min_accuracy=0.0)
    info = finetune_sentiment(tmp_path, tiny_split, base_dir=tiny_classifier_dir, recipe=recipe, log=_quiet)
    saved = json.loads((tmp_path / TRAINING_INFO_NAME).read_text())
    assert saved["accuracy"] == info["accuracy"]
    assert saved["n"] == 20 and saved["train_size"] == 48 and saved["seed"] == 0
    assert saved["ci_low"] <= saved["accuracy"] <= saved["ci_high"]
    assert saved["split_sha256"]["test.jsonl"] == _sha256(tiny_split / "test.jsonl")
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert (tmp_path / "model.safetensors").is_file()

    rows = read_jsonl(tiny_split / "test.jsonl")
    classify = pipeline("text-classification", model=str(tmp_path), tokenizer=str(tmp_path), device="cpu")
    predicted = [out["label"] for out in classify([r["text"] for r in rows], batch_size=8)]
    independent = np.mean([p == r["label"] for p, r in zip(predicted, rows)])
    assert saved["accuracy"] == pytest.approx(independent, abs=1 / 20 + 1e-9)


def test_finetune_is_seeded(tiny_split, tiny_classifier_dir, tmp_path):
    recipe = FineTuneRecipe(train_limit=32, batch_size=16, min_accuracy=0.0)
    runs = [finetune_sentiment(tmp_path / str(i), tiny_split, base_dir=tiny_classifier_dir, recipe=recipe,
                               log=_quiet) for i in range(2)]
    assert runs[0]["final_loss_mean_last_20"] == runs[1]["final_loss_mean_last_20"]
    assert runs[0]["correct"] == runs[1]["correct"]


def test_finetune_refuses_a_model_below_the_floor(tiny_split, tiny_classifier_dir, tmp_path):
    recipe = FineTuneRecipe(train_limit=16, batch_size=16, min_accuracy=1.01)
    with pytest.raises(PrepareError, match="below the floor 1.01"):
        finetune_sentiment(tmp_path, tiny_split, base_dir=tiny_classifier_dir, recipe=recipe, log=_quiet)
    assert not (tmp_path / "model.safetensors").exists()


def test_recipe_rejects_bad_settings():
    with pytest.raises(ValueError, match="cosine"):
        FineTuneRecipe(schedule="cosine")
    with pytest.raises(ValueError, match="train_limit"):
        FineTuneRecipe(train_limit=0)


def test_finetune_rejects_bad_labels_naming_the_row(tmp_path, tiny_classifier_dir):
    (tmp_path / "train.jsonl").write_text('{"id": "a", "text": "ok", "label": "positive"}\n'
                                          '{"id": "b", "text": "meh", "label": "neutral"}\n')
    with pytest.raises(DataError, match=r"train\.jsonl: row 2: .*'neutral'"):
        finetune_sentiment(tmp_path / "out", tmp_path, base_dir=tiny_classifier_dir, log=_quiet)


# ---------------------------------------------------------------- SmolLM2 helpers (tiny causal LM)


def _reference_logprob(model, tokenizer, prompt: str, continuation: str) -> float:
    """One unpadded sequence at a time: the obvious way, to check the batched helper."""
    context = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    whole = tokenizer(prompt + continuation, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([whole])).logits[0].log_softmax(-1)
    return float(sum(logits[i - 1, whole[i]] for i in range(len(context), len(whole))))


def test_continuation_logprobs_match_unbatched_reference(tiny_causal_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_causal_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_causal_dir).eval()
    prompt, continuations = "the capital of france is", [" paris", " the city of london"]
    batched = continuation_logprobs(model, tokenizer, prompt, continuations)
    expected = [_reference_logprob(model, tokenizer, prompt, c) for c in continuations]
    assert batched == pytest.approx(expected, abs=1e-4)


def test_sanity_check_fails_when_the_wrong_answer_wins(tiny_causal_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_causal_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_causal_dir).eval()
    paris, london = continuation_logprobs(model, tokenizer, "the capital is", [" paris", " london"])
    low, high = (" paris", " london") if paris < london else (" london", " paris")
    passed = sanity_check(tiny_causal_dir, SanityProbe("the capital is", good=high, bad=low), new_tokens=2)
    assert passed["passed"] and passed["logprob"][high] > passed["logprob"][low]
    with pytest.raises(PrepareError, match="sanity check failed"):
        sanity_check(tiny_causal_dir, SanityProbe("the capital is", good=low, bad=high), new_tokens=2)


def test_strip_quantization_makes_the_model_savable(tiny_causal_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_causal_dir)
    model.config.quantization_config = {"quant_method": "gguf"}
    model.hf_quantizer = object()
    strip_quantization(model, architecture="GPT2LMHeadModel").save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["architectures"] == ["GPT2LMHeadModel"] and model.hf_quantizer is None


# ---------------------------------------------------------------- the real prepared models


@pytest.mark.slow
def test_prepared_default_models_are_real(prepared_dir):  # noqa: F811
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert missing_artifacts(prepared_dir) == []
    smollm = prepared_dir / SMOLLM_NAME
    tokenizer = AutoTokenizer.from_pretrained(smollm)
    model = AutoModelForCausalLM.from_pretrained(smollm).eval()
    prompt = "The capital of France is"
    paris = _reference_logprob(model, tokenizer, prompt, " Paris")
    london = _reference_logprob(model, tokenizer, prompt, " London")
    assert paris > london and paris > -2.0

    training = json.loads((prepared_dir / SENTIMENT_NAME / TRAINING_INFO_NAME).read_text())
    assert training["accuracy"] >= 0.70 and training["n"] == 1066
    assert training["split_sha256"]["test.jsonl"] == _sha256(prepared_dir / SPLIT_NAME / "test.jsonl")
