"""Compressed variants of a configured model (the compression audit).

A model entry `{variant_of: NAME, quantize: int8-dynamic | prune: {amount} | dtype: float16}` is
built once from NAME's folder into `CACHE/derived/<name>-<key>/`, key = sha256 of (recipe, the
original's content fingerprint, builder version), and then loaded like any other model. The
runner calls `materialize` through its one owner (`audit.models.resolve.ModelResolver`); audit.regression.variant_report
then reports each variant against its original.
"""

from __future__ import annotations

from audit.models.variants.materialize import BuiltVariant, materialize
from audit.models.variants.quantized import is_quantized_folder
from audit.models.variants.recipe import VariantRecipe

__all__ = ["BuiltVariant", "VariantRecipe", "is_quantized_folder", "materialize"]
