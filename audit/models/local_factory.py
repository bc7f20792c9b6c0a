"""LocalModelFactory: derived models built once into the cache, and read-only reference models.

A derived model lives in `CACHE/derived/<name>-<key>/`, where key = sha256 of (recipe, training
data, base model fingerprint, trainer version). It is built in a staging folder and moved into
place with its manifest written last (audit.data.prepare.manifest), so an interrupted build is never
mistaken for a finished one and a second run reuses the artifact. The audited model's folder is
only read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable, Protocol

from audit.models.adapters.base import ModelAdapter, ModelKind
from audit.models.adapters.loading import model_fingerprint, resolve_model_dir
from audit.config.schema import ModelSpec
from audit.errors import ConfigError, ModelLoadError
from audit.models.factory import DerivedModel
from audit.versions import package_version
from audit.data.prepare.manifest import Artifact, ensure_artifact, read_manifest
from audit.results import DerivedModelProvenance
from audit.models.training.recipe import FineTuneRecipe, TrainingData
from audit.models.variants.randomise import RandomisationRecipe, build_randomised

log = logging.getLogger("audit.models.factory")

DERIVED_SUBDIR = "derived"
KIND_BY_TASK = {"classification": "classifier", "causal_lm": "causal_lm"}


class Trainer(Protocol):
    """Writes a complete Hugging Face folder for `recipe` (its `base` already a local path) into
    `out_dir` and returns a JSON-able report (steps, seconds, and for DP the privacy accounting)."""

    version: str

    def train(self, recipe: FineTuneRecipe, data: TrainingData, out_dir: Path) -> dict[str, Any]: ...


def default_trainer(device: str = "cpu") -> Trainer:
    """The fine-tuner, on the audited model's device (auto: the GPU when there is one)."""
    from audit.models.training.finetune import FineTuneTrainer

    return FineTuneTrainer(device=device)


TRAINING_PACKAGES = ("torch", "opacus", "transformers", "peft")
TRAINING_CODE = Path(__file__).resolve().parent / "training"


def training_versions() -> dict[str, str | None]:
    """Versions of what trains a derived model: a new opacus (accounting) or torch gives a new key."""
    return {name: package_version(name) for name in TRAINING_PACKAGES}


def training_code_sha256() -> str:
    """sha256 of the training code (audit/models/training/*.py): a fix to it retrains the model."""
    digest = hashlib.sha256()
    for path in sorted(TRAINING_CODE.glob("*.py")):
        digest.update(path.name.encode() + b"\n" + path.read_bytes())
    return digest.hexdigest()


AdapterLoader = Callable[[str, ModelSpec, Path, Path | None], ModelAdapter]


class LocalModelFactory:
    """The ModelFactory of one job: it knows the cache folders and how to load adapters."""

    def __init__(self, *, prepared_dir: Path, cache_dir: Path, result_cache_dir: Path | None,
                 loader: AdapterLoader, device: str = "auto", trainer: Trainer | None = None,
                 log_progress: Callable[[str], None] = log.info) -> None:
        self.prepared_dir = Path(prepared_dir)
        self.derived_dir = Path(cache_dir) / DERIVED_SUBDIR
        self.result_cache_dir = result_cache_dir
        self.loader = loader
        self.device = device
        self._trainer = trainer
        self._log = log_progress
        self.derived: dict[str, DerivedModelProvenance] = {}
        self._loaded: dict[tuple[str, str], ModelAdapter] = {}

    @property
    def trainer(self) -> Trainer:
        if self._trainer is None:
            self._trainer = default_trainer(self.device)
        return self._trainer

    def resolve(self, ref: str) -> str:
        return str(resolve_model_dir(ref, self.prepared_dir))

    def load(self, name: str, ref: str, kind: str = "auto") -> ModelAdapter:
        """A read-only adapter over another model (e.g. a reference model); loaded once per job."""
        key = (ref, kind)
        if key not in self._loaded:
            spec = ModelSpec(path=self.resolve(ref), kind=kind, device=self.device)  # type: ignore[arg-type]
            self._loaded[key] = self.loader(name, spec, self.prepared_dir, self.result_cache_dir)
        return self._loaded[key]

    def derive(self, name: str, recipe: FineTuneRecipe, data: TrainingData) -> DerivedModel:
        """Train `recipe` on `data` once (cached by their hashes and the base's fingerprint); load it."""
        if not data.texts:
            raise ConfigError(f"derived model {name!r}: no training examples")
        base_dir = resolve_model_dir(recipe.base, self.prepared_dir)
        base_fp = model_fingerprint(name, ModelSpec(path=str(base_dir)), self.prepared_dir)
        trainer = self.trainer
        key = hashlib.sha256(json.dumps({"recipe": recipe.sha256, "data": data.sha256, "base": base_fp,
                                         "trainer": getattr(trainer, "version", "1"),
                                         "versions": training_versions(),
                                         "code": training_code_sha256()}).encode()).hexdigest()[:16]
        resolved = dataclasses.replace(recipe, base=str(base_dir))
        artifact = Artifact(name=f"{name}-{key}", recipe={"key": key, "recipe": recipe.as_dict()},
                            build=lambda folder, _log: trainer.train(resolved, data, folder))
        outcome = ensure_artifact(self.derived_dir, artifact, log=self._log)
        folder = Path(outcome["path"])
        manifest = read_manifest(folder) or {}
        kind = KIND_BY_TASK.get(recipe.task)
        if kind is None:
            raise ConfigError(f"derived model {name!r}: unknown task {recipe.task!r}")
        adapter = self.loader(name, ModelSpec(path=str(folder), kind=kind, device=self.device),  # type: ignore[arg-type]
                              self.prepared_dir, self.result_cache_dir)
        provenance = DerivedModelProvenance(
            base=recipe.base, path=str(folder), sha256=adapter.fingerprint, kind=kind, recipe=recipe.as_dict(),
            recipe_sha256=recipe.sha256, data_sha256=data.sha256,
            training={**outcome.get("info", {}), "status": outcome["status"],
                      "built_at": manifest.get("created_at"), "base_fingerprint": base_fp})
        if name in self.derived and self.derived[name].sha256 != provenance.sha256:
            raise ModelLoadError(f"derived model name {name!r} is used for two different models in one job")
        self.derived[name] = provenance
        return DerivedModel(name=name, adapter=adapter, provenance=provenance)

    def randomise(self, name: str, base: str, recipe: RandomisationRecipe, kind: str) -> DerivedModel:
        """A copy of `base` with the recipe's parameters re-initialised, built once (cached by the recipe
        and the base's fingerprint); loaded like the original."""
        base_dir = resolve_model_dir(base, self.prepared_dir)
        base_fp = model_fingerprint(name, ModelSpec(path=str(base_dir)), self.prepared_dir)
        key = recipe.key(base_fp)[:16]
        artifact = Artifact(name=f"{name}-{key}", recipe={"key": key, "recipe": recipe.as_dict()},
                            build=lambda folder, _log: build_randomised(base_dir, ModelKind(kind), recipe, folder))
        outcome = ensure_artifact(self.derived_dir, artifact, log=self._log)
        folder = Path(outcome["path"])
        adapter = self.loader(name, ModelSpec(path=str(folder), kind=kind, device=self.device),  # type: ignore[arg-type]
                              self.prepared_dir, self.result_cache_dir)
        provenance = DerivedModelProvenance(
            base=base, path=str(folder), sha256=adapter.fingerprint, kind=kind, recipe=recipe.as_dict(),
            recipe_sha256=key, training={**outcome.get("info", {}), "status": outcome["status"],
                                         "base_fingerprint": base_fp, "builder": "audit.models.variants.randomise"})
        self.derived[name] = provenance
        return DerivedModel(name=name, adapter=adapter, provenance=provenance)
