"""Randomised copies of a model (Adebayo et al. 2018, model-parameter randomisation): the sanity check
that an explanation depends on what the model learned.

`scope="top"` re-initialises the output head and the top `top_layers` transformer blocks (the first
step of the cascade); `scope="all"` re-initialises every parameter, embeddings included. Weights are
drawn like a fresh model's (normal with the config's initializer_range; norms at 1, biases at 0) from
a seeded torch generator, so the copy is reproducible; it is built once into the cache (audit.models.factory.
local_factory) and never written over the original.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from audit.errors import ModelLoadError
from audit.models.adapters import loading
from audit.models.adapters.base import ModelKind

BUILDER_VERSION = "1"
LAYER_LIST_NAMES = ("layer", "layers", "h", "block", "blocks")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")
SKIPPED_FILES = ("MANIFEST.json", "training.json", "sanity.json")


@dataclass(frozen=True)
class RandomisationRecipe:
    scope: Literal["top", "all"]
    top_layers: int = 1
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"randomise": asdict(self)}

    def key(self, base_fingerprint: str) -> str:
        payload = {"recipe": self.as_dict(), "base": base_fingerprint, "builder": BUILDER_VERSION,
                   "torch": torch.__version__}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def describe(self) -> str:
        if self.scope == "all":
            return "every parameter re-initialised"
        return f"output head and top {self.top_layers} transformer block(s) re-initialised"


def transformer_blocks(model: torch.nn.Module) -> tuple[str, int]:
    """(qualified name of the ModuleList of transformer blocks, its length): the longest list so named."""
    best = ("", 0)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and name.rsplit(".", 1)[-1] in LAYER_LIST_NAMES \
                and len(module) > best[1]:
            best = (name, len(module))
    if not best[0]:
        raise ModelLoadError("cannot find the model's transformer blocks to randomise")
    return best


def scope_prefixes(model: torch.nn.Module, recipe: RandomisationRecipe) -> list[str] | None:
    """Parameter-name prefixes to re-initialise (None: every parameter)."""
    if recipe.scope == "all":
        return None
    blocks, count = transformer_blocks(model)
    top = [f"{blocks}.{i}" for i in range(max(0, count - recipe.top_layers), count)]
    base = getattr(model, "base_model_prefix", "")
    body = blocks.rsplit(".", 2)[0] if blocks.count(".") >= 1 else ""
    heads = [name for name, _ in model.named_children() if name != base]     # classifier, lm_head, score
    above = [f"{body}.{name}" for name in ("pooler", "norm", "final_layer_norm", "ln_f")] if body else []
    return top + heads + above


def _in_scope(name: str, prefixes: list[str] | None) -> bool:
    return prefixes is None or any(name == p or name.startswith(p + ".") for p in prefixes)


def randomise_parameters(model: torch.nn.Module, recipe: RandomisationRecipe) -> dict[str, Any]:
    """Re-initialise the parameters in scope in place; tied parameters appear once (named_parameters)."""
    std = float(getattr(model.config, "initializer_range", 0.02) or 0.02)
    generator = torch.Generator().manual_seed(recipe.seed)
    prefixes = scope_prefixes(model, recipe)
    names, count = [], 0
    with torch.no_grad():
        for name, param in model.named_parameters():
            if not _in_scope(name, prefixes):
                continue
            if param.ndim >= 2:
                param.copy_(torch.randn(param.shape, generator=generator) * std)
            elif name.endswith("bias"):
                param.zero_()
            else:
                param.fill_(1.0)
            names.append(name)
            count += param.numel()
    total = sum(p.numel() for p in model.parameters())
    return {"recipe": recipe.describe(), "randomised_tensors": len(names), "randomised_parameters": count,
            "parameter_share": count / total if total else 0.0, "prefixes": prefixes or ["*"]}


def build_randomised(base_dir: Path, kind: ModelKind, recipe: RandomisationRecipe, out_dir: Path) -> dict[str, Any]:
    """Write the randomised copy of the model in `base_dir` into the empty `out_dir`; return build facts."""
    try:
        model = loading.auto_class(kind).from_pretrained(base_dir, dtype=torch.float32, local_files_only=True,
                                                  use_safetensors=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{base_dir}: cannot load the original of a randomised copy: {exc}") from None
    info = randomise_parameters(model, recipe)
    model.save_pretrained(out_dir, safe_serialization=True)
    for path in sorted(Path(base_dir).iterdir()):   # tokenizer and other small files, not weights
        if path.is_file() and not path.name.endswith(WEIGHT_SUFFIXES) and path.name not in SKIPPED_FILES \
                and not (out_dir / path.name).exists():
            shutil.copy2(path, out_dir / path.name)
    return info
