"""An HFAdapter over an int8 variant folder (the one hook audit.models.adapters.loading calls)."""

from __future__ import annotations

from pathlib import Path

import torch

from audit.models.adapters.base import Capability, ModelKind
from audit.models.adapters.cache import ResultCache
from audit.models.adapters import loading
from audit.models.adapters.hf import HFAdapter
from audit.config.schema import ModelSpec
from audit.errors import ModelLoadError
from audit.models.variants.quantized import load_quantized_model

# Quantised Linear layers have no autograd: integrated gradients and fine-tuning are not offered.
NOT_ON_INT8 = frozenset({Capability.GRADIENTS, Capability.TRAIN})


def load_quantized_adapter(name: str, spec: ModelSpec, folder: Path, *, cache_dir: Path | None) -> HFAdapter:
    """Load an int8-dynamic variant (CPU only, float32 activations) behind the usual adapter."""
    import transformers


    if spec.device.startswith("cuda"):
        raise ModelLoadError(f"{folder}: an int8-dynamic variant runs on a CPU only (device {spec.device!r})")
    config = loading.read_config(folder, has_gguf=False)
    kind = ModelKind(spec.kind) if spec.kind != "auto" else loading.infer_kind(config.get("architectures"))
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{folder}: cannot load the tokenizer: {exc}") from None
    model = load_quantized_model(folder, loading.auto_class(kind))
    fingerprint = loading.fingerprint_folder(folder, loading.fingerprint_files(folder, spec, kind), kind)
    batch_size = spec.batch_size if isinstance(spec.batch_size, int) else None
    adapter = HFAdapter(name, kind, model, tokenizer, device="cpu", dtype=torch.float32,
                        max_length=loading.max_length_for(spec, model, tokenizer), batch_size=batch_size,
                        fingerprint=fingerprint, cache=ResultCache.in_dir(cache_dir), folder=str(folder))
    adapter.capabilities = adapter.capabilities - NOT_ON_INT8
    return adapter
