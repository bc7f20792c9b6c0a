"""Randomly initialised models of real sizes for `make bench --device cuda` (no weights needed).

BERT-base (masked LM and a 2-label classifier), GPT-2-small and a 135M Llama shaped like SmolLM2,
saved as plain HF folders with real tokenizers (MiniLM's BERT vocabulary, SmolLM2's BPE). Timing and
agreement are what the benches measure, so random weights are right for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

SIZES = ("real", "small")


def _configs(size: str) -> dict[str, tuple[str, Any]]:
    from transformers import BertConfig, GPT2Config, LlamaConfig

    small = size == "small"
    bert = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128) if small else {}
    gpt2 = dict(n_embd=64, n_layer=2, n_head=2) if small else {}
    llama = (dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                  intermediate_size=128) if small else
             dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                  intermediate_size=1536))
    return {
        "bert-base-mlm": ("bert", BertConfig(**bert)),
        "bert-base-classifier": ("bert", BertConfig(num_labels=2, id2label={0: "negative", 1: "positive"},
                                                    label2id={"negative": 0, "positive": 1}, **bert)),
        "gpt2-small": ("bpe", GPT2Config(vocab_size=49152, bos_token_id=1, eos_token_id=2, **gpt2)),
        "llama-135m": ("bpe", LlamaConfig(vocab_size=49152, bos_token_id=1, eos_token_id=2, pad_token_id=2,
                                          tie_word_embeddings=True, max_position_embeddings=2048, **llama)),
    }


def _classes() -> dict[str, Callable[..., Any]]:
    from transformers import BertForMaskedLM, BertForSequenceClassification, GPT2LMHeadModel, LlamaForCausalLM

    return {"bert-base-mlm": BertForMaskedLM, "bert-base-classifier": BertForSequenceClassification,
            "gpt2-small": GPT2LMHeadModel, "llama-135m": LlamaForCausalLM}


def parameter_counts(size: str = "real") -> dict[str, int]:
    """Parameters of each model, built on the meta device (no memory, no time)."""
    classes = _classes()
    counts = {}
    for name, (_, config) in _configs(size).items():
        with torch.device("meta"):
            model = classes[name](config)
        counts[name] = sum(p.numel() for p in model.parameters())
    return counts


def build(out: Path, tokenizers: dict[str, Path], size: str = "real", seed: int = 0) -> dict[str, Path]:
    """Write every model (seeded random weights) with its tokenizer under `out`; {name: folder}."""
    from transformers import AutoTokenizer

    classes = _classes()
    folders = {}
    for name, (vocab, config) in _configs(size).items():
        torch.manual_seed(seed)
        folder = Path(out) / name
        classes[name](config).save_pretrained(folder)
        AutoTokenizer.from_pretrained(tokenizers[vocab]).save_pretrained(folder)
        folders[name] = folder
    return folders


def default_tokenizers(prepared: Path | None = None) -> dict[str, Path]:
    """MiniLM's WordPiece vocabulary for the BERTs, the prepared SmolLM2's BPE one for GPT-2 and Llama
    (`prepared`: a `run_audit.py prepare` folder, by default the cache's)."""
    from audit.data.prepare.build import default_prepared_dir
    from audit.data.prepare.smollm import SMOLLM_NAME
    from tests.tiny_models import minilm_dir

    return {"bert": minilm_dir(), "bpe": (prepared or default_prepared_dir()) / SMOLLM_NAME}
