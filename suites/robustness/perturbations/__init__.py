"""The catalogue of natural perturbations: name -> a pure, deterministic function of
(text, per-example RNG, severity) -> text, HELM-style.

`severity` is a rate in [0, 1] whose meaning each module states (share of words typo'd, EDA's
alpha, probability per occurrence). Severity 0 returns the text unchanged. Perturbations that need
synonyms or names are built from a Lexicon / name list by `build`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from suites.robustness.lexicon import Lexicon
from suites.robustness.perturbations import case, contractions, eda, names, punctuation, typos

PerturbFn = Callable[[str, np.random.Generator, float], str]


@dataclass(frozen=True)
class PerturbationInfo:
    family: str
    default_severity: float
    what: str                                  # what it changes (shown in the report)
    needs_lexicon: bool = False


CATALOGUE: Mapping[str, PerturbationInfo] = {
    "typo_substitute": PerturbationInfo("typos", 0.1, "a letter becomes a neighbouring key, in 10% of words"),
    "typo_delete": PerturbationInfo("typos", 0.1, "a letter is dropped, in 10% of words"),
    "typo_insert": PerturbationInfo("typos", 0.1, "a neighbouring key is typed after a letter, in 10% of words"),
    "typo_transpose": PerturbationInfo("typos", 0.1, "two adjacent letters swap, in 10% of words"),
    "case": PerturbationInfo("case", 0.3, "30% of words in UPPER or Title case"),
    "punctuation": PerturbationInfo("punctuation", 0.3, "30% of punctuation marks dropped, neutral marks added"),
    "whitespace": PerturbationInfo("whitespace", 0.3, "30% of spaces become 2-4 spaces"),
    "contraction": PerturbationInfo("contractions", 1.0, "'do not' -> 'don't' (every occurrence)"),
    "expansion": PerturbationInfo("contractions", 1.0, "'don't' -> 'do not' (every occurrence)"),
    "word_deletion": PerturbationInfo("eda", 0.1, "each word dropped with probability 0.1 (EDA)"),
    "random_swap": PerturbationInfo("eda", 0.1, "10% x words swaps of two words (EDA)"),
    "random_insertion": PerturbationInfo("eda", 0.1, "10% x words synonyms inserted (EDA)", needs_lexicon=True),
    "synonym_substitution": PerturbationInfo("synonyms", 0.1, "10% of words replaced by a synonym (EDA)",
                                             needs_lexicon=True),
    "name_swap": PerturbationInfo("names", 1.0, "first names swapped for another of the same list"),
}
PERTURBATION_NAMES: tuple[str, ...] = tuple(CATALOGUE)

_PLAIN: Mapping[str, PerturbFn] = {
    "typo_substitute": typos.typo_substitute, "typo_delete": typos.typo_delete,
    "typo_insert": typos.typo_insert, "typo_transpose": typos.typo_transpose, "case": case.case_change,
    "punctuation": punctuation.punctuation, "whitespace": punctuation.whitespace,
    "contraction": contractions.contraction, "expansion": contractions.expansion,
    "word_deletion": eda.word_deletion, "random_swap": eda.random_swap,
}


@dataclass(frozen=True)
class Perturbation:
    name: str
    fn: PerturbFn
    info: PerturbationInfo

    def __call__(self, text: str, rng: np.random.Generator, severity: float) -> str:
        return text if severity <= 0 else self.fn(text, rng, severity)


def build(name: str, lexicon: Lexicon | None = None, name_lists: names.NameLists | None = None) -> Perturbation:
    """The perturbation `name`; synonym-based ones need `lexicon`. Unknown names are a KeyError."""
    info = CATALOGUE[name]
    if name in _PLAIN:
        fn = _PLAIN[name]
    elif name == "name_swap":
        fn = names.name_swap(name_lists or names.load_names())
    elif lexicon is None:
        raise ValueError(f"perturbation {name!r} needs a lexicon")
    elif name == "synonym_substitution":
        fn = eda.synonym_substitution(lexicon)
    else:
        fn = eda.random_insertion(lexicon)
    return Perturbation(name, fn, info)
