"""Training examples for FineTuneTrainer: tokenized once, padded per batch, and the two losses.

Classification: cross-entropy against the label index. Causal LM: next-token cross-entropy over every
real token (padding positions carry label -100 and count for nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F

from audit.models.training.recipe import FineTuneRecipe, TrainingData

IGNORE_INDEX = -100


@dataclass
class Examples:
    """Tokenized training examples; `batch` pads a selection, the loss functions score a forward pass."""

    task: str
    sequences: list[list[int]]
    targets: torch.Tensor | None
    pad_id: int
    device: str = "cpu"        # where batches go (the model's device; index sampling stays on the CPU)

    @classmethod
    def build(cls, tokenizer: Any, recipe: FineTuneRecipe, data: TrainingData) -> "Examples":
        ids = tokenizer(list(data.texts), truncation=True, max_length=recipe.max_length)["input_ids"]
        pad = next((t for t in (tokenizer.pad_token_id, tokenizer.eos_token_id) if t is not None), 0)
        targets = torch.as_tensor(data.labels, dtype=torch.long) if recipe.task == "classification" else None
        return cls(recipe.task, [list(s) for s in ids], targets, int(pad))

    def __len__(self) -> int:
        return len(self.sequences)

    def batch(self, index: Sequence[int], width: int | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(inputs, labels), right-padded to the longest sequence (or to `width`)."""
        seqs = [self.sequences[int(i)] for i in index]
        width = max(width or 0, max(len(s) for s in seqs))
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, :len(seq)] = torch.as_tensor(seq, dtype=torch.long)
            mask[row, :len(seq)] = 1
        if self.targets is not None:
            labels = self.targets[torch.as_tensor([int(i) for i in index], dtype=torch.long)]
        else:
            labels = ids.masked_fill(mask == 0, IGNORE_INDEX)
        if self.device != "cpu":
            ids, mask, labels = (t.to(self.device, non_blocking=True) for t in (ids, mask, labels))
        return {"input_ids": ids, "attention_mask": mask}, labels

    def per_example_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(B,) losses: cross-entropy per example, or each sequence's mean next-token loss."""
        if self.task == "classification":
            return F.cross_entropy(logits.float(), labels, reduction="none")
        logits, targets = logits[:, :-1].float(), labels[:, 1:]
        tokens = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                 ignore_index=IGNORE_INDEX, reduction="none").view(targets.shape)
        real = (targets != IGNORE_INDEX).float()
        return (tokens * real).sum(dim=1) / real.sum(dim=1).clamp(min=1)

    def mean_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The batch loss of non-private training: over examples, or over all real tokens of the batch."""
        if self.task == "classification":
            return F.cross_entropy(logits.float(), labels)
        logits = logits[:, :-1].float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                               ignore_index=IGNORE_INDEX)


def fixed_batches(n: int, batch_size: int, steps: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """`steps` batches of exactly batch_size indices: seeded reshuffled epochs, each epoch's rest dropped."""
    done = 0
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1, batch_size):
            if done == steps:
                return
            yield order[start:start + batch_size]
            done += 1
