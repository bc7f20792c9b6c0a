"""Compressed variants: config validation, the artifacts (int8 without pickle, pruning, half weights),
the recipe-hash cache, and the compression audit on a tiny classifier end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from audit.models.adapters.base import Capability
from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec, load_config
from audit.errors import ConfigError
from audit.models.variants import materialize
from audit.models.variants.quantized import QUANTIZED_MARKER, QUANTIZED_WEIGHTS
from tests.tiny_models import build_tiny_classifier

TEXTS = ["a warm and funny film", "dull, tedious and far too long", "the plot never comes together", "great cast"]


def _specs(base: Path, **variants: dict) -> dict[str, ModelSpec]:
    specs = {"base": ModelSpec(path=str(base), kind="classifier")}
    specs.update({name: ModelSpec(variant_of="base", **fields) for name, fields in variants.items()})
    return specs


def _build(specs, name, tmp_path):
    resolve = specs.__getitem__
    return materialize(name, specs, resolve=resolve, prepared_dir=tmp_path, derived_dir=tmp_path / "derived")


@pytest.mark.parametrize(("models", "message"), [
    ("  v: {variant_of: nope, quantize: int8-dynamic}", "models.v.variant_of names unknown model 'nope'"),
    ("  v: {variant_of: w, quantize: int8-dynamic}\n  w: {variant_of: v, prune: {amount: 0.5}}",
     "a cycle of variants (v -> w -> v)"),
    ("  v: {variant_of: m, path: /x, quantize: int8-dynamic}", "a variant has no 'path'"),
    ("  v: {variant_of: m}", "a variant needs 'quantize', 'prune' or 'dtype: float16|bfloat16'"),
    ("  v: {variant_of: m, quantize: int8-dynamic, dtype: float16}", "drop the half 'dtype'"),
    ("  v: {variant_of: m, quantize: int8-dynamic, device: cuda}", "runs on a CPU only"),
    ("  v: {variant_of: m, prune: {amount: 1.5}}", "less than 1"),
    ("  v: {path: /x, prune: {amount: 0.5}}", "'quantize' and 'prune' need 'variant_of'"),
    ("  v: {kind: classifier}", "'path' is required"),
])
def test_variant_config_errors_name_the_key(tmp_path, models, message):
    path = tmp_path / "audit.yaml"
    path.write_text(f"models:\n  m: {{path: /m}}\n{models}\nsuites: [{{suite: accuracy}}]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_int8_variant_is_stored_without_pickle_and_reloads_exactly(tmp_path, tiny_classifier_dir):
    specs = _specs(tiny_classifier_dir, q={"quantize": "int8-dynamic"})
    built = _build(specs, "q", tmp_path)
    files = sorted(p.name for p in built.folder.iterdir())
    assert QUANTIZED_WEIGHTS in files and QUANTIZED_MARKER in files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl"))]
    with safe_open(str(built.folder / QUANTIZED_WEIGHTS), "pt") as f:
        int8 = [k for k in f.keys() if k.endswith(".weight.int8")]
        assert int8 and all(f.get_tensor(k).dtype == torch.int8 for k in int8)
    first = load_adapter("q", built.spec, prepared_dir=tmp_path, cache_dir=None)
    second = load_adapter("q", built.spec, prepared_dir=tmp_path, cache_dir=None)
    base = load_adapter("base", specs["base"], prepared_dir=tmp_path, cache_dir=None)
    assert np.array_equal(first.classify(TEXTS), second.classify(TEXTS))       # bit-identical reload
    assert np.abs(first.classify(TEXTS) - base.classify(TEXTS)).max() < 0.05     # close to the original
    assert Capability.GRADIENTS not in first.capabilities and Capability.CLASSIFY in first.capabilities
    assert first.fingerprint != base.fingerprint


def test_pruning_zeroes_the_share_asked_for(tmp_path, tiny_classifier_dir):
    built = _build(_specs(tiny_classifier_dir, p={"prune": {"amount": 0.75}}), "p", tmp_path)
    assert built.info["pruned_linear_layers"] > 0
    assert built.info["linear_weight_sparsity"] == pytest.approx(0.75, abs=0.005)
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(built.folder)
    weights = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert zeros == pytest.approx(0.75, abs=0.005)


def test_half_weights_are_stored_in_half(tmp_path, tiny_classifier_dir):
    built = _build(_specs(tiny_classifier_dir, h={"dtype": "float16"}), "h", tmp_path)
    with safe_open(str(built.folder / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    original = (Path(tiny_classifier_dir) / "model.safetensors").stat().st_size
    assert (built.folder / "model.safetensors").stat().st_size < 0.55 * original
    assert built.spec.dtype == "float32"             # computed in float32 on a CPU
    adapter = load_adapter("h", built.spec, prepared_dir=tmp_path, cache_dir=None)
    assert adapter.classify(TEXTS).shape == (4, 2)


def test_variants_are_cached_by_recipe_and_original(tmp_path, tiny_classifier_dir):
    specs = _specs(tiny_classifier_dir, a={"prune": {"amount": 0.5}}, b={"prune": {"amount": 0.6}})
    first = _build(specs, "a", tmp_path)
    again = _build(specs, "a", tmp_path)
    assert first.status == "built" and again.status == "reused" and again.folder == first.folder
    assert _build(specs, "b", tmp_path).key != first.key                        # another recipe
    changed = build_tiny_classifier(tmp_path / "other", seed=1)                  # other weights
    moved = _build(_specs(changed, a={"prune": {"amount": 0.5}}), "a", tmp_path)
    assert moved.key != first.key and moved.status == "built"
    assert first.folder.name == f"a-{first.key[:16]}"


def test_compression_audit_end_to_end(tmp_path, tiny_classifier_dir, monkeypatch):
    """A run of the original and two variants: comparisons, size, latency and provenance are stored."""
    from audit.api import run_audit

    monkeypatch.setenv("RAI_AUDIT_PDF", "0")
    rows = ["id,text,label"] + [f"r{i},\"{TEXTS[i % 4]} {i}\",{'positive' if i % 4 in (0, 3) else 'negative'}"
                                for i in range(120)]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    config = tmp_path / "audit.yaml"
    config.write_text(f"""
models:
  clf: {{path: {tiny_classifier_dir}, kind: classifier}}
  clf-int8: {{variant_of: clf, quantize: int8-dynamic}}
  clf-pruned: {{variant_of: clf, prune: {{amount: 0.9}}}}
suites:
  - suite: accuracy
    config: {{datasets: [{{name: reviews, path: data.csv}}]}}
regression: {{latency: {{texts: 4, repeats: 1}}}}
""")
    run, files = run_audit(config, tmp_path / "out", show_progress=False, store_path=tmp_path / "h.sqlite")
    assert [v.name for v in run.variants] == ["clf-int8", "clf-pruned"]
    for report in run.variants:
        assert report.base == "clf" and report.comparison is not None and report.comparison.kind == "variant"
        assert report.comparison.metrics[0].n_paired == 120
        assert report.size_bytes > 0 and report.base_size_bytes > 0
        assert report.latency_ms.value > 0 and report.base_latency_ms.value > 0
        derived = run.provenance.derived_models[report.name]
        assert derived.base == "clf" and derived.recipe == report.recipe and len(derived.recipe_sha256) == 64
        assert derived.sha256 == run.provenance.models[report.name].sha256
    assert run.variants[1].recipe == {"prune": {"amount": 0.9, "method": "l1-unstructured"}}
    assert run.variants[0].size_bytes < run.variants[0].base_size_bytes
    html = Path(files["html"]).read_text()
    assert 'id="variants"' in html and "clf-int8" in html and "size on disk" in html
    stored = json.loads(Path(files["json"]).read_text())
    assert stored["variants"][0]["latency_probe"]["result_cache"] == "off"


def test_a_variant_is_loaded_like_its_original_unless_it_says_otherwise(tmp_path, tiny_classifier_dir):
    specs = {"base": ModelSpec(path=str(tiny_classifier_dir), kind="classifier", dtype="fast", max_length=64,
                               batch_size=8),
             "p": ModelSpec(variant_of="base", prune={"amount": 0.5}),
             "own": ModelSpec(variant_of="base", prune={"amount": 0.5}, dtype="float32"),
             "q": ModelSpec(variant_of="base", quantize="int8-dynamic")}
    pruned = _build(specs, "p", tmp_path).spec
    assert (pruned.dtype, pruned.max_length, pruned.batch_size) == ("fast", 64, 8)
    assert _build(specs, "own", tmp_path).spec.dtype == "float32"
    assert _build(specs, "q", tmp_path).spec.dtype == "float32"
