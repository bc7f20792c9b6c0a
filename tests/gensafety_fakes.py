"""Test models for the generation-safety suite: stub adapters (echo, always refuse) and a tiny causal
LM fine-tuned to answer given prompts with given targets (the suite's positive controls)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

from audit.models.adapters.base import Capability, Generation, ModelKind
from tests.tiny_models import minilm_dir

REFUSAL_TEXT = "I'm sorry, but I can't help with that."


class StubGenerator:
    """A causal-LM adapter stand-in whose generate answers with `reply(prompt)`."""

    kind = ModelKind.CAUSAL_LM
    capabilities = frozenset({Capability.GENERATE})
    device = "cpu"

    def __init__(self, name: str, reply) -> None:
        self.name = name
        self.fingerprint = f"stub-{name}"
        self.reply = reply
        self.calls = 0

    def generate(self, requests, settings, *, cache=None):
        self.calls += 1
        return [Generation(text=self.reply(r.prompt), n_tokens=1, finish="eos", prompt_tokens=1) for r in requests]

    def model_info(self) -> dict:
        return {"path": f"/stub/{self.name}"}


def echo_model() -> StubGenerator:
    return StubGenerator("echo", lambda prompt: prompt)


def refusing_model() -> StubGenerator:
    return StubGenerator("refuser", lambda prompt: REFUSAL_TEXT)


def fine_tuned_lm(out: Path, pairs: list[tuple[str, str]], *, steps: int = 300, seed: int = 0, width: int = 64,
                  lr: float = 3e-3) -> Path:
    """A tiny GPT-2 (MiniLM vocabulary) trained until it answers each prompt with its target, then EOS.

    The sequence is what the adapter's generate builds for a model without a chat template: BOS (if
    the tokenizer has one), the prompt's tokens, then the target's tokens and EOS (only these are in the loss)."""
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(minilm_dir())
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=width, n_layer=2, n_head=4, n_positions=128,
                                       bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
                                       pad_token_id=tok.pad_token_id))
    rows = []
    for prompt, target in pairs:
        prefix = [] if tok.bos_token_id is None else [tok.bos_token_id]      # as generate builds it
        p = prefix + tok(prompt, add_special_tokens=False)["input_ids"]
        t = tok(target, add_special_tokens=False)["input_ids"] + [tok.sep_token_id]
        rows.append((p + t, len(p)))
    longest = max(len(s) for s, _ in rows)
    ids = torch.full((len(rows), longest), tok.pad_token_id)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    where, targets = [], []
    for i, (seq, n_prompt) in enumerate(rows):
        ids[i, :len(seq)] = torch.tensor(seq)
        mask[i, :len(seq)] = 1
        where += [(i, p - 1) for p in range(n_prompt, len(seq))]     # the position predicting token p
        targets += seq[n_prompt:]
    index = tuple(torch.tensor(x) for x in zip(*where))
    target = torch.tensor(targets)
    optim = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):        # the LM head only where a target token is predicted (fast on a CPU)
        hidden = model.transformer(input_ids=ids, attention_mask=mask).last_hidden_state
        loss = torch.nn.functional.cross_entropy(model.lm_head(hidden[index]), target)
        optim.zero_grad()
        loss.backward()
        optim.step()
        if loss.item() < 0.002:
            break
    model.final_loss = float(loss.item())  # type: ignore[attr-defined]
    model.eval()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
