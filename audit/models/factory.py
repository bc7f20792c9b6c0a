"""ModelFactory: the one place suites get models other than the one under audit.

A suite never builds or trains a model object itself. It asks the factory for
- `derive(name, recipe, data)`: a new model fine-tuned from `recipe.base` (privately or not),
  built once into `CACHE/derived/<hash>/`, keyed by the recipe, the data and the base model's
  fingerprint, so a second run reuses it; recorded in the run's provenance as a derived model;
- `randomise(name, base, recipe, kind)`: a copy of `base` with its top layers or all its parameters
  re-initialised (audit.models.variants.randomise), cached the same way (explanation sanity checks);
- `load(name, ref, kind)`: another existing model (e.g. a reference model for a calibrated
  membership-inference attack), read-only, with the same safety rules as the audited models.
The audited model's folder is never written to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from audit.models.adapters.base import ModelAdapter
from audit.results import DerivedModelProvenance
from audit.models.training.recipe import FineTuneRecipe, TrainingData
from audit.models.variants.randomise import RandomisationRecipe


@dataclass
class DerivedModel:
    name: str
    adapter: ModelAdapter
    provenance: DerivedModelProvenance

    @property
    def training(self) -> dict[str, Any]:
        """The trainer's report: steps, seconds, final loss; under DP epsilon spent, delta, noise..."""
        return self.provenance.training


class ModelFactory(Protocol):
    def derive(self, name: str, recipe: FineTuneRecipe, data: TrainingData) -> DerivedModel: ...

    def randomise(self, name: str, base: str, recipe: RandomisationRecipe, kind: str) -> DerivedModel: ...

    def load(self, name: str, ref: str, kind: str = "auto") -> ModelAdapter: ...

    def resolve(self, ref: str) -> str:
        """The local folder a model reference (folder, prepared:NAME, package:MODULE/SUBPATH) names."""
