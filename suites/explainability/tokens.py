"""The units every method explains: the model tokenizer's tokens of one input, special tokens excluded.

All methods and all metrics speak these units, so scores line up position by position. A token
can be hidden two ways: removed (the ids drop it; ferret's "remove" strategy, used by the
faithfulness metrics) or replaced by the mask token. Causal-LM prompts are masked as text: each
token owns the characters from its start to the next token's start, so dropping tokens drops
exactly their characters (spaces included) and the rest of the prompt is kept verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import Enum
from typing import Sequence

import numpy as np

from audit.models.adapters.base import Encoding

_WORD = re.compile(r"\S+")


class Masking(str, Enum):
    REMOVE = "remove"        # drop the token
    MASK_TOKEN = "mask"      # replace it by the tokenizer's mask token (classifiers with one)


@dataclass(frozen=True)
class TokenUnits:
    """One explained input: all ids (specials included) and which positions are features.

    Usually every non-special token is a feature; `restrict` keeps only the tokens of one part of
    the text (a prompt's data field), and the other tokens then stay as they are in every masked input.
    """

    text: str
    input_ids: tuple[int, ...]
    positions: tuple[int, ...]             # index into input_ids of each feature
    offsets: tuple[tuple[int, int], ...]   # character span of each feature in `text`
    truncated: bool
    boundaries: tuple[int, ...] = ()       # start of every non-special token, then the covered end

    @classmethod
    def from_encoding(cls, text: str, encoding: Encoding) -> "TokenUnits":
        positions = tuple(i for i, special in enumerate(encoding.special) if not special)
        offsets = tuple((int(encoding.offsets[i][0]), int(encoding.offsets[i][1])) for i in positions)
        end = offsets[-1][1] if encoding.truncated and offsets else len(text)
        return cls(text=text, input_ids=tuple(int(i) for i in encoding.input_ids), positions=positions,
                   offsets=offsets, truncated=bool(encoding.truncated),
                   boundaries=tuple(a for a, _ in offsets) + (end,))

    def restrict(self, span: tuple[int, int]) -> "TokenUnits":
        """Only the features whose first visible character lies in text[span[0]:span[1]]."""
        keep = [f for f, (a, b) in enumerate(self.offsets)
                if span[0] <= a + len(self.text[a:b]) - len(self.text[a:b].lstrip()) < span[1]]
        return replace(self, positions=tuple(self.positions[f] for f in keep),
                       offsets=tuple(self.offsets[f] for f in keep))

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def feature_ids(self) -> tuple[int, ...]:
        return tuple(self.input_ids[p] for p in self.positions)

    @property
    def tokens(self) -> list[str]:
        """What a reader sees for each feature: its characters in the text."""
        return [self.text[a:b] for a, b in self.offsets]

    @property
    def covered_text(self) -> str:
        """The text up to the end of the last token (all of it unless the input was truncated)."""
        return self.text[:self.boundaries[-1]] if self.boundaries else self.text

    # ------------------------------------------------------------------ masked inputs
    def masked_ids(self, keep: np.ndarray, masking: Masking = Masking.REMOVE,
                   mask_token_id: int | None = None) -> tuple[int, ...]:
        """Ids with the features where keep is False removed (or replaced by `mask_token_id`)."""
        hidden = {p for p, k in zip(self.positions, keep) if not k}
        if masking == Masking.REMOVE:
            return tuple(t for i, t in enumerate(self.input_ids) if i not in hidden)
        if mask_token_id is None:
            raise ValueError("masking by the mask token needs a mask token id")
        return tuple(mask_token_id if i in hidden else t for i, t in enumerate(self.input_ids))

    def segments(self) -> list[tuple[int, int]]:
        """Per feature, the characters it owns: from its start to the next token's start."""
        following = {a: b for a, b in zip(self.boundaries[:-1], self.boundaries[1:])}
        return [(a, following.get(a, b)) for a, b in self.offsets]

    def masked_text(self, keep: np.ndarray) -> str:
        """The covered text with the characters of the features where keep is False cut out."""
        text, out, at = self.covered_text, [], 0
        for (a, b), k in zip(self.segments(), keep):
            if not k:
                out.append(text[at:a])
                at = b
        return "".join(out) + text[at:]

    # ------------------------------------------------------------------ words (stability)
    def word_index(self) -> tuple[list[tuple[int, int]], np.ndarray]:
        """Whitespace-separated words of the text and, per feature, the word it starts in."""
        words = [m.span() for m in _WORD.finditer(self.text)]
        owner = np.full(len(self), -1, dtype=np.int64)
        w = 0
        for f, (a, b) in enumerate(self.offsets):
            first = a + (len(self.text[a:b]) - len(self.text[a:b].lstrip()))
            while w < len(words) and words[w][1] <= first:
                w += 1
            if w < len(words) and words[w][0] <= first < words[w][1]:
                owner[f] = w
        return words, owner


def word_scores(units: TokenUnits, scores: np.ndarray) -> np.ndarray:
    """Token scores summed per whitespace word (words no feature starts in score 0)."""
    return word_scores_owned(units, scores)[0]


def word_scores_owned(units: TokenUnits, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(token scores summed per whitespace word, which words have a feature at all)."""
    words, owner = units.word_index()
    out = np.zeros(len(words))
    owned = np.zeros(len(words), dtype=bool)
    for f, w in enumerate(owner):
        if w >= 0:
            out[w] += scores[f]
            owned[w] = True
    return out, owned


def shap_cluster_tokens(units: TokenUnits) -> list[str]:
    """Token strings for shap's text partition tree: word continuations get '##' (as shap's Text
    masker marks them), so the hierarchy merges word pieces before words and words before phrases."""
    parts = [units.text[a:b] for a, b in units.segments()]
    tokens: list[str] = []
    for i, part in enumerate(parts):
        glued = i > 0 and re.match(r"^.*\W$", parts[i - 1]) is None and re.match(r"^[A-Za-z]", part) is not None
        tokens.append("##" + part.strip() if glued and tokens[i - 1] != "" else part.strip())
    return tokens


def align_by_offsets(units: TokenUnits, offsets: Sequence[tuple[int, int]], scores: Sequence[float],
                     ids: Sequence[int] | None = None) -> np.ndarray:
    """Scores given over another tokenization of the same text, moved onto `units`' features.

    Identical feature ids map one to one; otherwise each source score goes to the features whose
    character spans overlap its own."""
    pairs = [(tuple(o), float(s), None if ids is None else int(i))
             for o, s, i in zip(offsets, scores, ids if ids is not None else [None] * len(scores))
             if tuple(o) != (0, 0)]
    if ids is not None and tuple(p[2] for p in pairs) == units.feature_ids:
        return np.array([p[1] for p in pairs])
    out = np.zeros(len(units))
    for (a, b), score, _ in pairs:
        hits = [f for f, (fa, fb) in enumerate(units.offsets) if fa < b and a < fb]
        for f in hits:
            out[f] += score / len(hits)
    return out
