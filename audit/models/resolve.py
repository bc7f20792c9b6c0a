"""ModelResolver: the one owner of turning a configured model into a folder, a fingerprint and a loadable spec.

Why one owner: the runner (loading, resuming), the compression audit (rebuilding a variant for its
report) and the derived-model factory all need the same answer to "which folder and which weights is
model NAME?". Relative paths are relative to the config file (like dataset paths); `prepared:` and
`package:` references are resolved by `adapters.loading.resolve_model_dir`; a compressed variant
(`variant_of`) is built once into the derived-model cache and then loaded like any local folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from audit.config.schema import LoadedConfig, ModelSpec
from audit.models.adapters.hf import HFAdapter
from audit.models.adapters.loading import load_hf_adapter, model_fingerprint, resolve_model_dir
from audit.models.variants.adapter import load_quantized_adapter
from audit.models.variants.materialize import BuiltVariant, materialize
from audit.models.variants.quantized import is_quantized_folder


def load_adapter(name: str, spec: ModelSpec, *, prepared_dir: Path, cache_dir: Path | None) -> HFAdapter:
    """Load any loadable spec: an int8 variant folder in its own (pickle-free) format, else a HF folder."""
    folder = resolve_model_dir(spec.path, prepared_dir)
    if is_quantized_folder(folder):
        return load_quantized_adapter(name, spec, folder, cache_dir=cache_dir)
    return load_hf_adapter(name, spec, prepared_dir=prepared_dir, cache_dir=cache_dir)


@dataclass
class ModelResolver:
    """Spec -> loadable spec -> folder -> fingerprint, for the models of one config."""

    specs: Mapping[str, ModelSpec]
    config_dir: Path
    prepared_dir: Path
    derived_dir: Path
    _variants: dict[str, BuiltVariant] = field(default_factory=dict, repr=False)

    @classmethod
    def for_config(cls, loaded: LoadedConfig) -> "ModelResolver":
        return cls(loaded.config.models, config_dir=loaded.directory, prepared_dir=loaded.cache_dir / "prepared",
                   derived_dir=loaded.cache_dir / "derived")

    def spec(self, name: str) -> ModelSpec:
        """The spec to load model `name` with: relative paths resolved, a variant built (once)."""
        spec = self.specs[name]
        if spec.variant_of is not None:
            return self.variant(name).spec
        path = Path(spec.path).expanduser()
        if spec.path.startswith("prepared:") or spec.path.startswith("package:") or path.is_absolute():
            return spec
        return spec.model_copy(update={"path": str(self.config_dir / path)})

    def variant(self, name: str) -> BuiltVariant:
        """Build (or reuse from the cache) the compressed variant `name`."""
        if name not in self._variants:
            self._variants[name] = materialize(name, self.specs, resolve=self.spec, prepared_dir=self.prepared_dir,
                                               derived_dir=self.derived_dir)
        return self._variants[name]

    def folder(self, name: str) -> Path:
        return resolve_model_dir(self.spec(name).path, self.prepared_dir)

    def fingerprint(self, name: str) -> str:
        """The content fingerprint of model `name` without loading it (raises an AuditUserError when unreadable)."""
        return model_fingerprint(name, self.spec(name), self.prepared_dir)

    def load(self, name: str, cache_dir: Path | None) -> HFAdapter:
        return load_adapter(name, self.spec(name), prepared_dir=self.prepared_dir, cache_dir=cache_dir)
