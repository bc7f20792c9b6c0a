"""A Trainer for plans: records what a derived model's training would cost and writes a weightless
folder (config + tokenizer of the base) that the simulated adapter can open."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.models.training.recipe import FineTuneRecipe, TrainingData

COPIED_SUFFIXES = (".json", ".txt", ".model")   # config, tokenizer files; never weights


@dataclass
class RecordingTrainer:
    version: str = "plan"
    runs: list[dict[str, Any]] = field(default_factory=list)

    def train(self, recipe: FineTuneRecipe, data: TrainingData, out_dir: Path) -> dict[str, Any]:
        base = Path(recipe.base)
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in base.iterdir():
            if path.is_file() and path.suffix in COPIED_SUFFIXES:
                shutil.copy2(path, out_dir / path.name)
        record = {"base": str(base), "steps": recipe.steps, "batch_size": recipe.batch_size,
                  "max_length": recipe.max_length, "examples": len(data), "dp": recipe.privacy is not None,
                  "train_only": list(recipe.train_only), "freeze": list(recipe.freeze),
                  "mean_chars": sum(len(t) for t in data.texts) / max(1, len(data))}
        self.runs.append(record)
        return {"planned": True}
