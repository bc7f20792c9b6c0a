"""Build a variant folder from its original: prune, cast, quantise; tokenizer and config copied.

This is model surgery, not inference: it happens once per recipe, in a staging folder of the
cache (audit.data.prepare.manifest.ensure_artifact), never in the original's folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from audit.models.adapters import loading
from audit.models.adapters.base import ModelKind
from audit.errors import ModelLoadError
from audit.models.variants.quantized import save_quantized
from audit.models.variants.recipe import INT8_DYNAMIC, VariantRecipe

TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")
SKIPPED_FILES = ("MANIFEST.json", "training.json", "sanity.json")


def _tied_to_embeddings(model: torch.nn.Module, module: torch.nn.Linear) -> bool:
    embeddings = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    return embeddings is not None and module.weight is getattr(embeddings, "weight", None)


def prune_linears(model: torch.nn.Module, amount: float) -> dict[str, Any]:
    """L1-unstructured pruning of every Linear weight (a weight tied to the embeddings is left alone);
    made permanent, so the saved weights simply contain the zeros."""
    from torch.nn.utils import prune

    total = zeros = layers = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and not _tied_to_embeddings(model, module):
            prune.l1_unstructured(module, name="weight", amount=amount)
            prune.remove(module, "weight")
            total += module.weight.numel()
            zeros += int((module.weight == 0).sum())
            layers += 1
    return {"pruned_linear_layers": layers, "linear_weight_sparsity": zeros / total if total else 0.0}


def _copy_side_files(base_dir: Path, out_dir: Path) -> None:
    """Tokenizer and other small files of the original (not its weights or its build records)."""
    for path in sorted(base_dir.iterdir()):
        if path.is_file() and not path.name.endswith(WEIGHT_SUFFIXES) and path.name not in SKIPPED_FILES \
                and not (out_dir / path.name).exists():
            shutil.copy2(path, out_dir / path.name)


def build_variant(base_dir: Path, kind: ModelKind, recipe: VariantRecipe, out_dir: Path) -> dict[str, Any]:
    """Write the variant of the model in `base_dir` into the empty `out_dir`; return build facts."""

    try:
        model = loading.auto_class(kind).from_pretrained(base_dir, dtype=torch.float32, local_files_only=True,
                                                          use_safetensors=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{base_dir}: cannot load the original of a variant: {exc}") from None
    model.eval()
    info: dict[str, Any] = {"recipe": recipe.describe()}
    with torch.no_grad():
        if recipe.prune_amount is not None:
            info.update(prune_linears(model, recipe.prune_amount))
        if recipe.storage_dtype:
            model = model.to(TORCH_DTYPES[recipe.storage_dtype])
        if recipe.quantize == INT8_DYNAMIC:
            model.config.save_pretrained(out_dir)
            info.update(save_quantized(model, out_dir))
        else:
            model.save_pretrained(out_dir, safe_serialization=True)
    _copy_side_files(base_dir, out_dir)
    return info
