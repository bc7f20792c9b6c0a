"""A variant's recipe: what is done to the original's weights, and the key it is cached under."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from audit.config.schema import ModelSpec
from audit.config.sections import HALF_DTYPES

# Bump when a code change alters what a recipe produces (the cache key changes with it).
BUILDER_VERSION = "1"
INT8_DYNAMIC = "int8-dynamic"


@dataclass(frozen=True)
class VariantRecipe:
    """Steps applied in this order: prune, then cast to a half dtype, then quantize."""

    prune_amount: float | None = None
    prune_method: str | None = None
    storage_dtype: str | None = None     # float16 / bfloat16: weights cast and stored in it
    quantize: str | None = None          # int8-dynamic

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> "VariantRecipe":
        return cls(prune_amount=spec.prune.amount if spec.prune else None,
                   prune_method=spec.prune.method if spec.prune else None,
                   storage_dtype=spec.dtype if spec.dtype in HALF_DTYPES else None,
                   quantize=spec.quantize)

    def as_dict(self) -> dict[str, Any]:
        """The recipe as written in provenance (only the steps that are used)."""
        out: dict[str, Any] = {}
        if self.prune_amount is not None:
            out["prune"] = {"amount": self.prune_amount, "method": self.prune_method}
        if self.storage_dtype:
            out["dtype"] = self.storage_dtype
        if self.quantize:
            out["quantize"] = self.quantize
        return out

    def key(self, base_fingerprint: str) -> str:
        """sha256 of (recipe, original's content fingerprint, builder version)."""
        payload = {"recipe": self.as_dict(), "base": base_fingerprint, "builder": BUILDER_VERSION}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def describe(self) -> str:
        steps = []
        if self.prune_amount is not None:
            steps.append(f"{self.prune_method} pruning of {self.prune_amount:.0%} of each Linear weight")
        if self.storage_dtype:
            steps.append(f"weights in {self.storage_dtype}")
        if self.quantize:
            steps.append("dynamic int8 quantisation of the Linear layers")
        return ", ".join(steps)
