"""Integrated gradients w.r.t. the input token embeddings (Sundararajan et al. 2017).

IG_i = (x_i − x'_i) · ∫₀¹ ∂f(x' + α(x − x'))/∂x_i dα, summed over the embedding dimension, with
the integral taken by Gauss–Legendre quadrature over `steps` nodes. Every (example, α) pair is one
row; rows of several examples share a batch (length-sorted, token budget, OOM back-off) and one
backward pass gives every row's gradient, since rows do not interact. Two extra rows per example
(α = 0 and α = 1) give f(baseline) and f(input), so the completeness gap is reported exactly.

f is p(target | text) for a classifier and log p(continuation | prompt) for a causal LM (the
continuation's embeddings stay fixed; the prompt's tokens are attributed). Special tokens
(CLS, SEP, BOS) keep their embeddings and get no attribution. A baseline at the zero vector (the
"zero" baseline, or a pad embedding trained as padding_idx) is singular for RMS/LayerNorm models:
the completeness gap reported per example shows when more steps are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from audit.models.adapters.base import Attribution, GradientRequest, ModelKind
from audit.models.adapters.batching import inference_context
from audit.models.adapters.causal_ops import CausalOps
from audit.models.adapters.head import OutputHead
from audit.models.adapters.host import to_device
from audit.models.adapters.runtime import ModelRuntime
from audit.errors import DataError

BASELINES = ("pad", "mask", "zero")
MAX_STEPS = 1024


@dataclass(frozen=True)
class _Example:
    input_ids: tuple[int, ...]
    interpolated: tuple[bool, ...]     # True where the embedding moves along the path
    target: int                        # classifier: label index
    n_scored: int                      # causal LM: continuation tokens at the end (0 for classifiers)
    baseline: str
    contrast_ids: tuple[int, ...] = ()  # causal LM: single-token choices the target is normalised over


@dataclass(frozen=True)
class _Row:
    example: int
    alpha: float
    weight: float


def quadrature(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [0, 1] (weights sum to 1)."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return (nodes + 1.0) / 2.0, weights / 2.0


class GradientOps:
    """Integrated gradients for classifiers and causal LMs over one runtime."""

    def __init__(self, rt: ModelRuntime, head: OutputHead, causal: CausalOps | None) -> None:
        self.rt = rt
        self.head = head
        self.causal = causal

    def gradients(self, requests: Sequence[GradientRequest]) -> list[Attribution]:
        if not requests:
            return []
        self.rt.count_uncached(len(requests))
        examples, views = self._examples(requests)
        rows = [_Row(e, 1.0, 0.0) for e in range(len(examples))] + [_Row(e, 0.0, 0.0) for e in range(len(examples))]
        for e, request in enumerate(requests):
            alphas, weights = quadrature(request.steps)
            rows += [_Row(e, float(a), float(w)) for a, w in zip(alphas, weights)]
        if self.rt.kind == ModelKind.CAUSAL_LM:
            with inference_context(self.rt.device, self.rt.dtype):
                probe = torch.tensor([examples[0].input_ids], device=self.rt.device)
                self.head.resolve(probe, torch.ones_like(probe))
        results = self.rt.run(rows, lambda batch: self._batch(batch, examples), desc="gradients", grad=True,
                              lengths=[len(examples[r.example].input_ids) for r in rows])
        scores = [np.zeros(len(ex.input_ids)) for ex in examples]
        outputs = [0.0] * len(examples)
        baselines = [0.0] * len(examples)
        for row, (value, contribution) in zip(rows, results):
            value, contribution = float(value), contribution.astype(np.float64)      # host arrays by now
            scores[row.example] += row.weight * contribution
            if row.weight == 0.0:
                (outputs if row.alpha == 1.0 else baselines)[row.example] = value
        return [Attribution(tokens=self.rt.decode_tokens(ex.input_ids), token_ids=list(ex.input_ids),
                            offsets=views[e], special=[not i for i in ex.interpolated], scores=scores[e],
                            output=outputs[e], baseline_output=baselines[e], steps=requests[e].steps)
                for e, ex in enumerate(examples)]

    # ---------------------------------------------------------------- inputs
    def _examples(self, requests: Sequence[GradientRequest]) -> tuple[list[_Example], list[list[tuple[int, int]]]]:
        for n, r in enumerate(requests):
            if not 1 <= r.steps <= MAX_STEPS:
                raise DataError(f"gradients request {n}: steps must be in 1..{MAX_STEPS} (got {r.steps})")
            if r.baseline not in BASELINES:
                raise DataError(f"gradients request {n}: baseline {r.baseline!r} is not one of {BASELINES}")
            if r.baseline == "mask" and self.rt.tokenizer.mask_token_id is None:
                raise DataError(f"gradients request {n}: baseline 'mask' needs a mask token, and model "
                                f"'{self.rt.name}' has none")
        if self.rt.kind == ModelKind.CAUSAL_LM:
            return self._causal_examples(requests)
        return self._classifier_examples(requests)

    def _classifier_examples(self, requests: Sequence[GradientRequest]):
        n_labels = int(getattr(self.rt.model.config, "num_labels", 0))
        self.rt.note_truncation([r.text for r in requests])
        examples, views = [], []
        for n, (r, enc) in enumerate(zip(requests, self.rt.encode([r.text for r in requests]))):
            if not isinstance(r.target, int) or not 0 <= r.target < n_labels:
                raise DataError(f"gradients request {n}: target {r.target!r} is not a label index 0..{n_labels - 1}")
            examples.append(_Example(tuple(enc.input_ids), tuple(not s for s in enc.special), r.target, 0, r.baseline))
            views.append(enc.offsets)
        return examples, views

    def _causal_examples(self, requests: Sequence[GradientRequest]):
        assert self.causal is not None
        pairs = []
        for n, r in enumerate(requests):
            if not isinstance(r.target, str) or not r.target:
                raise DataError(f"gradients request {n}: a causal LM needs the continuation text as target")
            pairs.append((r.text, r.target))
        self.rt.note_truncation([c + x for c, x in pairs], reserve=1)
        jobs = self.causal.score_jobs(pairs)
        examples, views = [], []
        for (prompt, _), job, r in zip(pairs, jobs, requests):
            if job.n_scored == 0:
                raise DataError(f"gradients: continuation {r.target!r} adds no token to the prompt")
            n_prompt = len(job.input_ids) - job.n_scored
            prefix = self.causal.prefix_id(allow_eos=True)
            added_prefix = not prompt.rstrip(" ") and prefix is not None
            interpolated = tuple(i < n_prompt and not (added_prefix and i == 0) for i in range(len(job.input_ids)))
            examples.append(_Example(job.input_ids, interpolated, 0, job.n_scored, r.baseline,
                                     self._contrast_ids(r, job.input_ids)))
            views.append(self._prompt_offsets(prompt, job.input_ids, n_prompt))
        return examples, views

    def _contrast_ids(self, r: GradientRequest, input_ids: tuple[int, ...]) -> tuple[int, ...]:
        """The choices' token ids after the prompt; each choice must add exactly one token."""
        if not r.contrast:
            return ()
        assert self.causal is not None
        jobs = self.causal.score_jobs([(r.text, c) for c in r.contrast])
        if any(j.n_scored != 1 or j.input_ids[:-1] != input_ids[:-1] for j in jobs) or r.target not in r.contrast:
            raise DataError(f"gradients: contrast choices {list(r.contrast)!r} must each add one token to the "
                            "prompt and include the target")
        return tuple(j.input_ids[-1] for j in jobs)

    def _prompt_offsets(self, prompt: str, ids: tuple[int, ...], n_prompt: int) -> list[tuple[int, int]]:
        """Character spans of the prompt tokens in the prompt text ((0, 0) for the rest)."""
        stripped = prompt.rstrip(" ")
        enc = self.rt.tokenizer(stripped, add_special_tokens=False, return_offsets_mapping=True)
        prompt_ids, offsets = enc["input_ids"], [tuple(o) for o in enc["offset_mapping"]]
        head = list(ids[:n_prompt])
        if head and prompt_ids[-len(head):] == head:
            spans = offsets[-len(head):]
        else:
            spans = [(0, 0)] * len(head)
        return [(int(a), int(b)) for a, b in spans] + [(0, 0)] * (len(ids) - n_prompt)

    # ---------------------------------------------------------------- one batch of rows
    def _batch(self, rows: list[_Row], examples: list[_Example]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(output, per-token contribution) per row as device tensors (copied after the last batch)."""
        rt = self.rt
        exs = [examples[r.example] for r in rows]
        ids, mask = rt.pad([ex.input_ids for ex in exs])
        embedding = rt.model.get_input_embeddings()
        with torch.no_grad():
            x = embedding(ids).float()
            width = ids.shape[1]
            moving = to_device([list(ex.interpolated) + [False] * (width - len(ex.interpolated)) for ex in exs],
                               ids.device, torch.bool)
            vectors = torch.stack([self._baseline_vector(embedding, ex.baseline, x.shape[-1], x.device) for ex in exs])
            base = torch.where(moving[..., None], vectors[:, None, :], x)    # the baseline where tokens move
        alpha = to_device([r.alpha for r in rows], ids.device, x.dtype)[:, None, None]
        path = (base + alpha * (x - base)).to(rt.model.dtype).detach().requires_grad_(True)
        values = self._outputs(path, mask, exs)
        grads = torch.autograd.grad(values.sum(), path)[0].float()
        contribution = (grads * (x - base)).sum(dim=-1) * moving
        out, contribution = values.detach().float(), contribution.detach()
        return [(out[b], contribution[b, :len(ex.input_ids)]) for b, ex in enumerate(exs)]

    def _baseline_vector(self, embedding: torch.nn.Module, kind: str, width: int, device: torch.device) -> torch.Tensor:
        if kind == "zero":
            return torch.zeros(width, device=device)
        token = self.rt.pad_id if kind == "pad" else int(self.rt.tokenizer.mask_token_id)
        return embedding(to_device([token], device))[0].float()

    def _outputs(self, path: torch.Tensor, mask: torch.Tensor, exs: list[_Example]) -> torch.Tensor:
        rt = self.rt
        if rt.kind != ModelKind.CAUSAL_LM:
            logits = rt.forward(rt.model, inputs_embeds=path, attention_mask=mask).logits.float()
            targets = to_device([ex.target for ex in exs], path.device)
            return torch.softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)
        rows, cols, targets = [], [], []
        for b, ex in enumerate(exs):
            length = len(ex.input_ids)
            for p in range(length - ex.n_scored - 1, length - 1):
                rows.append(b)
                cols.append(p)
                targets.append(ex.input_ids[p + 1])
        index_r = to_device(rows, path.device)
        index_c = to_device(cols, path.device)
        logits = self.head.logits_from_embeddings(path, mask, index_r, index_c).float()
        logp = torch.log_softmax(logits, dim=-1)
        picked = logp.gather(1, to_device(targets, path.device)[:, None])
        contrast = [r for r, b in enumerate(rows) if exs[b].contrast_ids]
        if contrast:   # one scored position per contrast example: normalise over its choices
            ids = to_device([exs[rows[r]].contrast_ids for r in contrast], path.device)
            at = to_device(contrast, path.device)
            norm = torch.logsumexp(logp[at].gather(1, ids), dim=-1)
            picked = picked.index_add(0, at, -norm[:, None])
        return torch.zeros(len(exs), device=path.device, dtype=picked.dtype).index_add(0, index_r, picked[:, 0])
