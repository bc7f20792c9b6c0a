"""Identity-neutral first-name swaps: a first name from the bundled list becomes another name of
the same list (female for female, male for male, so pronouns still agree).

Each distinct name in a text is swapped with probability `severity` (default 1), the same way
at every occurrence; its case pattern is kept. Nothing but the names changes. The list and its
source (U.S. SSA popular names, public domain) are in data/first_names.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from suites.robustness.text import match_case, replace_words, word_spans

POSSESSIVE_RE = re.compile(r"^(.*?)((?:['’].*)?)$")   # "mary's" -> ("mary", "'s")
NAMES_FILE = Path(__file__).resolve().parent.parent / "data" / "first_names.yaml"
PerturbFn = Callable[[str, np.random.Generator, float], str]


@dataclass(frozen=True)
class NameLists:
    lists: tuple[tuple[str, ...], ...]          # names that may replace each other
    source: str

    def list_of(self, name: str) -> tuple[str, ...] | None:
        key = name.lower()
        return next((names for names in self.lists if key in names), None)


def load_names(path: Path = NAMES_FILE) -> NameLists:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    lists = tuple(tuple(str(n).lower() for n in spec[key]) for key in ("female", "male"))
    return NameLists(lists=lists, source=str(spec["source"]))


def name_swap(names: NameLists) -> PerturbFn:
    def perturb(text: str, rng: np.random.Generator, severity: float) -> str:
        spans = word_spans(text)
        chosen: dict[str, str | None] = {}
        replacements = {}
        for i, span in enumerate(spans):
            base, suffix = POSSESSIVE_RE.match(span.text).groups()
            key = base.lower()
            pool = names.list_of(key)
            if pool is None:
                continue
            if key not in chosen:
                apply, pick = rng.random(2)
                others = [n for n in pool if n != key]
                chosen[key] = others[min(int(pick * len(others)), len(others) - 1)] if apply < severity else None
            if chosen[key] is not None:
                replacements[i] = match_case(base, chosen[key]) + suffix
        return replace_words(text, spans, replacements).text if replacements else text

    perturb.__name__ = "name_swap"
    return perturb
