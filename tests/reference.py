"""Straightforward one-sequence-at-a-time references the batched code is checked against."""

from __future__ import annotations

import torch


def causal_sentence_logprob(model, tokenizer, text: str) -> float:
    """Sum of log p(token_i | tokens_<i) over a text (no special tokens), one forward pass, full logits."""
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0, :-1], dim=-1)
    return logp.gather(1, ids[0, 1:, None]).sum().item()
