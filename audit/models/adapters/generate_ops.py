"""Causal-LM generation: batched, length-bucketed, left-padded; greedy or sampled with a seeded
sampler per request (a text never depends on its batch-mates); stop strings; the chat template.

The decoding loop is transformers' `generate` (KV cache, position ids from the attention mask);
sampling is done by `SeededSampler`, a logits processor that draws each row's token with that
row's own `torch.Generator` and leaves a single finite logit, so the greedy step picks it.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from typing import Any, Iterator, Sequence

import torch
from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

from audit.errors import DataError
from audit.models.adapters.base import CachePolicy, Capability, Generation, GenerationRequest, GenerationSettings
from audit.models.adapters.runtime import ModelRuntime, canonical_json

FINISH_EOS, FINISH_STOP, FINISH_LENGTH = "eos", "stop", "length"


def settings_key(settings: GenerationSettings) -> str:
    """The cache namespace of one set of generation settings (any change misses the cache)."""
    return f"{Capability.GENERATE.value}:{json.dumps(asdict(settings), sort_keys=True, separators=(',', ':'))}"


def check_settings(settings: GenerationSettings) -> None:
    if settings.max_new_tokens < 1:
        raise DataError(f"generate: max_new_tokens must be >= 1 (got {settings.max_new_tokens})")
    if settings.do_sample and not settings.temperature > 0:
        raise DataError(f"generate: temperature must be > 0 when sampling (got {settings.temperature})")
    if not 0 < settings.top_p <= 1:
        raise DataError(f"generate: top_p must be in (0, 1] (got {settings.top_p})")


@contextlib.contextmanager
def exact_on_cpu(device: str) -> Iterator[None]:
    """Float32 on a CPU: bf16 autocast moves a padded row's logits by ~1e-2, enough to change a sampled
    token, and a text must not depend on its batch-mates. (On CUDA the run's dtype is kept.)"""
    if device.startswith("cpu"):
        with torch.autocast(device_type="cpu", enabled=False):
            yield
    else:
        yield


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """The text before the first stop string, and whether one was found."""
    hits = [text.find(s) for s in stop if s and s in text]
    return (text[:min(hits)], True) if hits else (text, False)


class SeededSampler:
    """Logits processor: row i's next token is drawn with generator i (temperature, then top-p)."""

    def __init__(self, generators: list[torch.Generator], temperature: float, top_p: float) -> None:
        self.generators = generators
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        sorted_probs, order = probs.sort(dim=-1, descending=True, stable=True)
        cumulative = sorted_probs.cumsum(dim=-1)
        if self.top_p < 1.0:
            keep = (cumulative - sorted_probs) < self.top_p          # always keeps the top token
            sorted_probs = sorted_probs * keep
            cumulative = sorted_probs.cumsum(dim=-1)
        draws = torch.stack([torch.rand((), generator=g) for g in self.generators]).to(scores.device)
        targets = (draws * cumulative[:, -1]).unsqueeze(1)
        picked = torch.searchsorted(cumulative.contiguous(), targets).clamp(max=scores.shape[-1] - 1)
        tokens = order.gather(1, picked)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter(1, tokens, 0.0)


class StopStrings:
    """Stopping criterion: a row is done once its generated text holds a stop string."""

    def __init__(self, tokenizer: Any, stop: Sequence[str], prompt_width: int) -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.prompt_width = prompt_width

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **_: Any) -> torch.Tensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_width:], skip_special_tokens=True)
        return torch.tensor([any(s in t for s in self.stop) for t in texts], dtype=torch.bool,
                            device=input_ids.device)


class GenerateOps:
    """`generate` over one runtime; `prefix_id` gives the BOS token a plain prompt starts with."""

    def __init__(self, rt: ModelRuntime, prefix_id: int | None) -> None:
        self.rt = rt
        self.prefix_id = prefix_id

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.rt.tokenizer, "chat_template", None))

    def prompt_text(self, prompt: str, settings: GenerationSettings) -> str:
        """The text the model is given: the chat template's user turn when there is one."""
        if settings.chat and self.has_chat_template:
            return self.rt.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                         add_generation_prompt=True)
        return prompt

    def prompt_ids(self, prompts: list[str], settings: GenerationSettings) -> list[list[int]]:
        texts = [self.prompt_text(p, settings) for p in prompts]
        ids = self.rt.encode_plain(texts)
        templated = settings.chat and self.has_chat_template
        prefix = [] if templated or self.prefix_id is None else [self.prefix_id]
        return [prefix + seq for seq in ids]

    def eos_ids(self) -> list[int]:
        found: list[int] = []
        for value in (getattr(self.rt.model.generation_config, "eos_token_id", None),
                      getattr(self.rt.model.config, "eos_token_id", None), self.rt.tokenizer.eos_token_id):
            for v in (value if isinstance(value, list) else [value]):
                if v is not None and int(v) not in found:
                    found.append(int(v))
        return found

    def generate(self, requests: Sequence[GenerationRequest], settings: GenerationSettings,
                 policy: CachePolicy = CachePolicy.PERSIST) -> list[Generation]:
        check_settings(settings)
        for n, r in enumerate(requests):
            if not r.prompt.strip():
                raise DataError(f"generate request {n}: the prompt is empty")
        lengths = [len(ids) for ids in self.prompt_ids([r.prompt for r in requests], settings)]
        for n, length in enumerate(lengths):
            if length + settings.max_new_tokens > self.rt.max_length:
                raise DataError(f"generate request {n}: the prompt has {length} tokens; with max_new_tokens "
                                f"{settings.max_new_tokens} it exceeds the model's context of "
                                f"{self.rt.max_length} tokens")

        def canonical(r: GenerationRequest) -> str:
            return canonical_json([r.prompt, r.seed if settings.do_sample else None])

        return self.rt.cached(settings_key(settings), list(requests), canonical,
                              lambda todo: self._uncached(todo, settings), policy)

    def _uncached(self, requests: list[GenerationRequest], settings: GenerationSettings) -> list[Generation]:
        ids = self.prompt_ids([r.prompt for r in requests], settings)
        jobs = list(zip(requests, ids))
        return self.rt.run(jobs, lambda batch: self._batch(batch, settings), desc="generate",
                           lengths=[len(i) + settings.max_new_tokens for i in ids], full_vocab_logits=True)

    def _batch(self, jobs: list[tuple[GenerationRequest, list[int]]], settings: GenerationSettings) -> list[Generation]:
        rt = self.rt
        width = max(len(seq) for _, seq in jobs)
        ids = torch.full((len(jobs), width), rt.pad_id, dtype=torch.long)
        mask = torch.zeros((len(jobs), width), dtype=torch.long)
        for row, (_, seq) in enumerate(jobs):                        # left padding
            ids[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq):] = 1
        eos = self.eos_ids()
        config = GenerationConfig(max_new_tokens=settings.max_new_tokens, do_sample=False, num_beams=1,
                                  pad_token_id=rt.pad_id, eos_token_id=eos or None)
        processors = LogitsProcessorList()
        if settings.do_sample:
            generators = [torch.Generator().manual_seed(int(r.seed)) for r, _ in jobs]
            processors.append(SeededSampler(generators, settings.temperature, settings.top_p))
        criteria = StoppingCriteriaList([StopStrings(rt.tokenizer, settings.stop, width)] if settings.stop else [])
        with exact_on_cpu(rt.device):
            out = rt.model.generate(input_ids=ids.to(rt.device), attention_mask=mask.to(rt.device),
                                    generation_config=config, logits_processor=processors,
                                    stopping_criteria=criteria)
        new = out[:, width:].cpu()
        rt.forward_passes += max(1, int(new.shape[1]))
        results = []
        for row, (_, seq) in enumerate(jobs):
            tokens = new[row].tolist()
            end = next((i for i, t in enumerate(tokens) if t in eos), None)
            kept = tokens if end is None else tokens[:end]
            text, stopped = cut_at_stop(rt.tokenizer.decode(kept, skip_special_tokens=True), settings.stop)
            finish = FINISH_STOP if stopped else (FINISH_EOS if end is not None else FINISH_LENGTH)
            results.append(Generation(text=text, n_tokens=len(kept) + (end is not None), finish=finish,
                                      prompt_tokens=len(seq)))
        return results
