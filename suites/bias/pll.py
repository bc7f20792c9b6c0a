"""Sentence scoring shared by the bias parts, each as ONE batched adapter call.

Masked LMs: pseudo-log-likelihood over the tokens two sentences share, exactly as
CrowS-Pairs' own metric.py (Nangia et al. 2020): difflib opcodes over token ids, 'equal'
spans, special tokens excluded; each shared token is masked in its own sentence and
log p(original token) is summed. Causal LMs: the full-sentence log-likelihood.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from audit.models.adapters.base import Capability, MaskedQuery, ModelAdapter

SCORING_MASKED = "masked_pll"
SCORING_CAUSAL = "causal_ll"


def scoring_mode(adapter: ModelAdapter) -> str | None:
    """How sentences are scored on this adapter (masked PLL preferred), or None if it cannot."""
    caps = adapter.capabilities
    if Capability.MASKED_SCORES in caps and Capability.TOKENIZE in caps:
        return SCORING_MASKED
    if Capability.TOKEN_LOGPROBS in caps:
        return SCORING_CAUSAL
    return None


def special_token_ids(adapter: ModelAdapter) -> frozenset[int]:
    """Ids the tokenizer adds around any text ([CLS]/[SEP], <s>/</s>), found without a model call."""
    return frozenset(adapter.tokenize([""], add_special_tokens=True)[0])


def shared_positions(ids_a: Sequence[int], ids_b: Sequence[int],
                     special: frozenset[int]) -> tuple[list[int], list[int]]:
    """Aligned positions of the tokens both sentences share (difflib 'equal' spans), specials excluded.

    Same matcher settings as the CrowS-Pairs reference (SequenceMatcher(None, a, b) over the
    ids as strings), so the set of scored tokens is identical.
    """
    matcher = difflib.SequenceMatcher(None, [str(x) for x in ids_a], [str(x) for x in ids_b])
    pos_a: list[int] = []
    pos_b: list[int] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            pos_a.extend(range(a0, a1))
            pos_b.extend(range(b0, b1))
    keep = [i for i, p in enumerate(pos_a) if ids_a[p] not in special]
    return [pos_a[i] for i in keep], [pos_b[i] for i in keep]


def masked_query(ids: Sequence[int], position: int, mask_id: int,
                 targets: Sequence[int] | None = None) -> MaskedQuery:
    """`ids` with `position` masked, asking for the original token (or `targets`) there."""
    masked = list(ids)
    masked[position] = mask_id
    wanted = tuple(targets) if targets is not None else (int(ids[position]),)
    return MaskedQuery(input_ids=tuple(int(x) for x in masked), position=position, target_ids=wanted)


@dataclass(frozen=True)
class PairScores:
    """Summed log-probs of the two sentences of each pair, plus how many queries were asked."""

    first: np.ndarray
    second: np.ndarray
    n_queries: int
    n_unique_queries: int
    n_scored_tokens: np.ndarray  # per pair: shared tokens scored in each sentence


def score_pairs_masked(adapter: ModelAdapter, pairs: Sequence[tuple[str, str]]) -> PairScores:
    """CrowS-Pairs PLL of both sentences of every pair: all masked variants in one masked_scores call."""
    if adapter.mask_token_id is None:
        raise ValueError(f"model '{adapter.name}' has no mask token")
    mask_id = int(adapter.mask_token_id)
    special = special_token_ids(adapter)
    texts = [t for pair in pairs for t in pair]
    ids = adapter.tokenize(texts, add_special_tokens=True)
    queries: list[MaskedQuery] = []
    owner: list[int] = []  # 2 * pair + sentence index, per query
    counts = np.zeros(len(pairs), dtype=int)
    for k in range(len(pairs)):
        ids_a, ids_b = ids[2 * k], ids[2 * k + 1]
        pos_a, pos_b = shared_positions(ids_a, ids_b, special)
        counts[k] = len(pos_a)
        for p in pos_a:
            queries.append(masked_query(ids_a, p, mask_id))
            owner.append(2 * k)
        for p in pos_b:
            queries.append(masked_query(ids_b, p, mask_id))
            owner.append(2 * k + 1)
    sums = np.zeros(2 * len(pairs))
    if queries:
        logprobs = adapter.masked_scores(queries)
        np.add.at(sums, np.asarray(owner), np.asarray([float(lp[0]) for lp in logprobs]))
    return PairScores(first=sums[0::2], second=sums[1::2], n_queries=len(queries),
                      n_unique_queries=len(set(queries)), n_scored_tokens=counts)


def score_texts_causal(adapter: ModelAdapter, texts: Sequence[str]) -> np.ndarray:
    """Full-sentence log-likelihood of every text under a causal LM (one token_logprobs call)."""
    return np.asarray([r.total for r in adapter.token_logprobs(list(texts))], dtype=float)


def score_pairs_causal(adapter: ModelAdapter, pairs: Sequence[tuple[str, str]]) -> PairScores:
    totals = score_texts_causal(adapter, [t for pair in pairs for t in pair])
    return PairScores(first=totals[0::2], second=totals[1::2], n_queries=len(totals),
                      n_unique_queries=len(set(t for pair in pairs for t in pair)),
                      n_scored_tokens=np.zeros(len(pairs), dtype=int))


def score_pairs(adapter: ModelAdapter, pairs: Sequence[tuple[str, str]]) -> tuple[str, PairScores]:
    """Score sentence pairs the best way this adapter allows; returns (mode, scores)."""
    mode = scoring_mode(adapter)
    if mode == SCORING_MASKED:
        return mode, score_pairs_masked(adapter, pairs)
    if mode == SCORING_CAUSAL:
        return mode, score_pairs_causal(adapter, pairs)
    raise ValueError(f"model '{adapter.name}' can neither score masked tokens nor token log-probs")


def replaced_span(full: Sequence[int], masked: Sequence[int], mask_id: int) -> tuple[int, int] | None:
    """Where `full` differs from `masked` = prefix + [mask] + suffix: the [start, end) of the
    replaced tokens in `full`, or None when `masked` is not of that shape."""
    n_full, n_masked = len(full), len(masked)
    prefix = 0
    while prefix < min(n_full, n_masked) and full[prefix] == masked[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < min(n_full, n_masked) - prefix
           and full[n_full - 1 - suffix] == masked[n_masked - 1 - suffix]):
        suffix += 1
    if n_masked - prefix - suffix != 1 or masked[prefix] != mask_id or n_full - suffix <= prefix:
        return None
    return prefix, n_full - suffix


def differing_position(ids_a: Sequence[int], ids_b: Sequence[int]) -> int | None:
    """The single position where two equal-length id lists differ, else None."""
    if len(ids_a) != len(ids_b):
        return None
    diff = [i for i, (a, b) in enumerate(zip(ids_a, ids_b)) if a != b]
    return diff[0] if len(diff) == 1 else None
