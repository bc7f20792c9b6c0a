"""The output head applied only where a score is read (masked LM and causal LM).

The base model runs on the whole batch; the vocabulary-sized matmul of the head runs only at
the positions whose log-probabilities are read (a few out of a long context). The head is found
once per model (the one non-base child module) and checked against the model's own logits on
a probe; models whose head is spread over several modules fall back to full logits.
"""

from __future__ import annotations

from typing import Any

import torch

from audit.models.adapters.runtime import ModelRuntime

HEAD_CHECK_ATOL = 1e-3          # head-only logits must match the model's own logits this closely


class OutputHead:
    """Finds, checks and applies the output head of one runtime's model."""

    def __init__(self, rt: ModelRuntime) -> None:
        self.rt = rt
        self.module: torch.nn.Module | None = None
        self.checked = False

    def resolve(self, probe_ids: torch.Tensor, probe_mask: torch.Tensor) -> torch.nn.Module | None:
        """BertForMaskedLM -> `cls`, LlamaForCausalLM / GPT2LMHeadModel -> `lm_head`; None if unsure."""
        if self.checked:
            return self.module
        self.checked = True
        model = self.rt.model
        base = model.base_model
        heads = [child for _, child in model.named_children()
                 if child is not base and any(True for _ in child.parameters())]
        if len(heads) != 1 or base is model:
            return None
        try:
            full = self.rt.forward(model, input_ids=probe_ids, attention_mask=probe_mask).logits[0].float()
            hidden = self.rt.forward(base, input_ids=probe_ids, attention_mask=probe_mask)[0]
            partial = heads[0](hidden[0]).float()
        except Exception:  # noqa: BLE001 - any mismatch of signatures means "not a plain head"
            return None
        scale = float(full.abs().max()) or 1.0
        if partial.shape == full.shape and float((partial - full).abs().max()) <= HEAD_CHECK_ATOL * scale:
            self.module = heads[0]
        return self.module

    def logprobs_at(self, ids: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor,
                    cols: torch.Tensor) -> torch.Tensor:
        """Log-softmax over the vocabulary at (row, col) positions only."""
        head = self.resolve(ids[:1], mask[:1])
        if head is not None:
            hidden = self.rt.forward(self.rt.model.base_model, input_ids=ids, attention_mask=mask)[0]
            logits = head(hidden[rows, cols])
        else:
            logits = self.rt.forward(self.rt.model, input_ids=ids, attention_mask=mask).logits[rows, cols]
        return torch.log_softmax(logits.float(), dim=-1)

    def logits_from_embeddings(self, embeds: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor,
                               cols: torch.Tensor, **extra: Any) -> torch.Tensor:
        """Logits at (row, col) for a forward from input embeddings (the gradient path)."""
        head = self.module if self.checked else None
        if head is not None:
            hidden = self.rt.forward(self.rt.model.base_model, inputs_embeds=embeds, attention_mask=mask, **extra)[0]
            return head(hidden[rows, cols])
        return self.rt.forward(self.rt.model, inputs_embeds=embeds, attention_mask=mask, **extra).logits[rows, cols]
