"""Turn a variant's ModelSpec into a plain one pointing at its built (cached) folder."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from audit.models.adapters import loading
from audit.models.adapters.base import ModelKind
from audit.config.schema import ModelSpec
from audit.errors import ConfigError
from audit.data.prepare.manifest import Artifact, ensure_artifact
from audit.results import DerivedModelProvenance
from audit.models.variants.build import build_variant
from audit.models.variants.recipe import VariantRecipe

log = logging.getLogger("audit.models.variants")

KEY_CHARS = 16
Resolve = Callable[[str], ModelSpec]   # model name -> its loadable spec


@dataclass(frozen=True)
class BuiltVariant:
    """A variant after its build: the spec to load it with, and what provenance needs."""

    name: str
    base: str
    spec: ModelSpec
    folder: Path
    recipe: VariantRecipe
    key: str
    base_path: str
    base_fingerprint: str
    status: str
    info: dict[str, Any]

    def provenance(self, fingerprint: str) -> DerivedModelProvenance:
        return DerivedModelProvenance(
            base=self.base, path=str(self.folder), sha256=fingerprint, kind=self.spec.kind,
            recipe=self.recipe.as_dict(), recipe_sha256=self.key,
            training={**self.info, "status": self.status, "base_path": self.base_path,
                      "base_fingerprint": self.base_fingerprint, "builder": "audit.models.variants"})


INHERITED = ("device", "dtype", "batch_size", "max_length")


def _loading_fields(spec: ModelSpec, base: ModelSpec, recipe: VariantRecipe) -> dict[str, object]:
    """How the variant is loaded: the original's device, compute dtype, batch size and max length
    unless the variant sets its own (so a comparison isolates the compression, not a dtype change).
    float16 weights are computed in float32 on a CPU (its half kernels are missing or slow); the
    variant then measures the effect of storing the weights in float16."""
    fields = {key: getattr(spec if key in spec.model_fields_set else base, key) for key in INHERITED}
    if recipe.storage_dtype == "float16":
        fields["dtype"] = "float16" if str(fields["device"]).startswith("cuda") else "float32"
    elif recipe.storage_dtype == "bfloat16":
        fields["dtype"] = "bfloat16"
    elif recipe.quantize:
        fields["dtype"], fields["device"] = "float32", "cpu"
    return fields


def materialize(name: str, specs: Mapping[str, ModelSpec], *, resolve: Resolve, prepared_dir: Path,
                derived_dir: Path) -> BuiltVariant:
    """Build (or reuse) the variant `name` of the config's `specs`; `resolve` turns the original's
    name into a loadable spec (relative paths, or the original being a variant itself)."""

    spec = specs[name]
    if spec.variant_of is None or spec.variant_of not in specs:
        raise ConfigError(f"models.{name}: variant_of names unknown model {spec.variant_of!r}")
    base_spec = resolve(spec.variant_of)
    base_dir = loading.resolve_model_dir(base_spec.path or "", prepared_dir)
    config = loading.read_config(base_dir, has_gguf=False)
    kind = (ModelKind(base_spec.kind) if base_spec.kind != "auto"
            else loading.infer_kind(config.get("architectures")))
    base_fp = loading.model_fingerprint(spec.variant_of, base_spec, prepared_dir)
    recipe = VariantRecipe.from_spec(spec)
    key = recipe.key(base_fp)
    artifact = Artifact(name=f"{name}-{key[:KEY_CHARS]}", recipe={"key": key, "recipe": recipe.as_dict()},
                        build=lambda folder, _log: build_variant(base_dir, kind, recipe, folder))
    outcome = ensure_artifact(Path(derived_dir), artifact, log=log.info)
    folder = Path(outcome["path"])
    loadable = ModelSpec(path=str(folder), kind=kind.value, **_loading_fields(spec, base_spec, recipe))
    return BuiltVariant(name=name, base=spec.variant_of, spec=loadable, folder=folder, recipe=recipe, key=key,
                        base_path=str(base_dir), base_fingerprint=base_fp, status=outcome["status"],
                        info=dict(outcome.get("info", {})))
