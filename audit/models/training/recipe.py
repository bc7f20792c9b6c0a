"""What to train, as hashable plain data: the cache key of a derived model is its hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

TaskKind = Literal["classification", "causal_lm"]


@dataclass(frozen=True)
class PrivacySpec:
    """DP-SGD (Opacus) settings: train to a target (epsilon, delta)."""

    epsilon: float
    delta: float
    max_grad_norm: float = 1.0
    accountant: Literal["rdp", "prv"] = "prv"
    mode: Literal["auto", "ghost", "hooks"] = "auto"   # auto: ghost clipping, else per-sample hooks
    secure_mode: bool = False       # Opacus' cryptographically secure RNG (torchcsprng); else measurement only


@dataclass(frozen=True)
class FineTuneRecipe:
    """Fine-tune `base` (a model reference: local folder or prepared:NAME) on `TrainingData`.

    `freeze` lists parameter-name prefixes kept fixed (e.g. "bert.embeddings", which Opacus
    cannot take per-sample gradients of); `train_only`, when not empty, trains only the parameters
    under its prefixes (e.g. the top layer and the head: cheap DP training on a CPU). A prefix
    matches a parameter name equal to it or continuing it with a dot; `freeze` wins over
    `train_only`. Poisson sampling under DP makes batch sizes vary around `batch_size`; the
    non-private control draws fixed-size shuffled batches.
    """

    base: str
    task: TaskKind = "classification"
    labels: tuple[str, ...] = ()
    steps: int = 100
    batch_size: int = 32
    learning_rate: float = 5e-5
    max_length: int = 64
    seed: int = 0
    weight_decay: float = 0.0
    freeze: tuple[str, ...] = ()
    privacy: PrivacySpec | None = None
    extra: tuple[tuple[str, Any], ...] = field(default_factory=tuple)   # trainer-specific options
    train_only: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain data; fields added later are left out while at their default, so the hashes (cache
        keys) of recipes written before them do not change."""
        data = asdict(self)
        if not data["train_only"]:
            del data["train_only"]
        if data["privacy"] is not None and not data["privacy"]["secure_mode"]:
            del data["privacy"]["secure_mode"]
        return data

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class TrainingData:
    """Training examples: texts and (classification) label indices, in order."""

    texts: tuple[str, ...]
    labels: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.labels is not None and len(self.labels) != len(self.texts):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for i, text in enumerate(self.texts):
            label = "" if self.labels is None else str(self.labels[i])
            digest.update(f"{label}\t{text}\n".encode("utf-8"))
        return digest.hexdigest()
