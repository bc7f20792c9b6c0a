"""Identity-term swapping for counterfactual probes: pure functions over text, no model.

Two sources of real counterfactuals:
- gender word pairs (WinoBias swap lists) applied whole-word, case-preserving, to real sentences;
- HateCheck cases re-filled with another target identity through their `case_templ` template,
  with the identity terms learned from the dataset itself (aligning test_case with case_templ).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from audit.errors import DataError

IDENTITY_PLACEHOLDER = re.compile(r"\[IDENTITY_[A-Z]+\]")
ANY_PLACEHOLDER = re.compile(r"\[[A-Z]+_[A-Z]+\]")
HATECHECK_COLUMNS = ("test_case", "case_templ", "target_ident", "functionality", "case_id")


# ---------------------------------------------------------------- word-pair swaps


@dataclass(frozen=True)
class Replacement:
    """One swapped word occurrence: where it was in the original and where it is in the variant."""

    original: str
    replacement: str
    start: int          # in the original text
    end: int
    new_start: int      # in the variant text
    new_end: int


def parse_swap_lines(text: str, *, path: str) -> list[tuple[str, str]]:
    """Pairs from a tab/space separated two-column list (WinoBias format; stray spaces allowed)."""
    pairs = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DataError(f"{path}: line {line_no}: expected two words separated by a tab, got {line!r}")
        pairs.append((parts[0].lower(), parts[1].lower()))
    return pairs


def build_swap_table(pair_lists: list[list[tuple[str, str]]], *, exclude: set[str] | frozenset[str] = frozenset(),
                     overrides: dict[str, str] | None = None) -> dict[str, str]:
    """A word → swap table: explicit entries first, then each pair's reverse where not yet defined.

    The reverse pass makes the table work in both directions for lists that name only one
    (e.g. `cowboy → cowgirl` gives `cowgirl → cowboy`). `exclude` drops words (as source or
    target); `overrides` fixes ambiguous reverses (e.g. "her" → "his" rather than "him").
    """
    table: dict[str, str] = {}
    for pairs in pair_lists:
        for a, b in pairs:
            if a not in exclude and b not in exclude and a != b:
                table.setdefault(a, b)
    for pairs in pair_lists:
        for a, b in pairs:
            if a not in exclude and b not in exclude and a != b:
                table.setdefault(b, a)
    for a, b in (overrides or {}).items():
        table[a.lower()] = b.lower()
    return table


def _match_case(template: str, word: str) -> str:
    """Give `word` the capitalisation pattern of `template` (UPPER, Title or lower)."""
    if len(template) > 1 and template.isupper():
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def swap_pattern(table: dict[str, str]) -> re.Pattern[str]:
    """Whole-word, case-insensitive alternation (longest first, so 'men' never shadows 'mentor')."""
    words = sorted(table, key=len, reverse=True)
    return re.compile(r"(?<![\w])(" + "|".join(map(re.escape, words)) + r")(?![\w])", re.IGNORECASE)


def swap_words(text: str, table: dict[str, str],
               pattern: re.Pattern[str] | None = None) -> tuple[str, list[Replacement]]:
    """Swap every whole-word occurrence of a table word, preserving case; returns (variant, replacements)."""
    pattern = pattern or swap_pattern(table)
    pieces: list[str] = []
    replacements: list[Replacement] = []
    cursor = 0
    new_len = 0
    for match in pattern.finditer(text):
        found = match.group(0)
        new = _match_case(found, table[found.lower()])
        head = text[cursor:match.start()]
        pieces.append(head)
        new_len += len(head)
        replacements.append(Replacement(found, new, match.start(), match.end(), new_len, new_len + len(new)))
        pieces.append(new)
        new_len += len(new)
        cursor = match.end()
    pieces.append(text[cursor:])
    return "".join(pieces), replacements


# ---------------------------------------------------------------- HateCheck identity variants


@dataclass(frozen=True)
class IdentityVariant:
    """A HateCheck case re-filled with another target identity."""

    case_id: str
    original: str
    variant: str
    source_ident: str
    target_ident: str
    original_spans: tuple[tuple[int, int], ...]
    variant_spans: tuple[tuple[int, int], ...]


def _template_regex(template: str) -> tuple[re.Pattern[str], list[str]]:
    """A regex matching a filled template, capturing each identity placeholder."""
    placeholders = IDENTITY_PLACEHOLDER.findall(template)
    parts = IDENTITY_PLACEHOLDER.split(template)
    body = "(.+?)".join(re.escape(p) for p in parts)
    return re.compile(body, re.DOTALL), placeholders


def _at_sentence_start(template: str, start: int) -> bool:
    head = template[:start].rstrip()
    return head == "" or head[-1] in ".!?\""


def learn_identity_terms(frame: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(placeholder, target_ident) → the term HateCheck uses, learned by aligning cases with templates.

    The most common mid-sentence spelling wins (sentence-initial ones are capitalised, and the
    spelling-variation functionalities misspell a few); a placeholder seen only sentence-initially
    falls back to its most common form.
    """
    mid: dict[tuple[str, str], Counter] = defaultdict(Counter)
    any_pos: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for templ, case, ident in zip(frame["case_templ"], frame["test_case"], frame["target_ident"]):
        if not ident or ANY_PLACEHOLDER.findall(templ) != IDENTITY_PLACEHOLDER.findall(templ):
            continue
        regex, placeholders = _template_regex(templ)
        if not placeholders:
            continue
        match = regex.fullmatch(case.strip())
        if match is None:
            continue
        starts = [m.start() for m in IDENTITY_PLACEHOLDER.finditer(templ)]
        for ph, term, start in zip(placeholders, match.groups(), starts):
            any_pos[(ph, ident)][term] += 1
            if not _at_sentence_start(templ, start):
                mid[(ph, ident)][term] += 1
    return {key: (mid.get(key) or counts).most_common(1)[0][0] for key, counts in any_pos.items()}


ARTICLE_BEFORE = re.compile(r"\b(an?|An?) $")


def _agree_article(head: str, term: str) -> str:
    """'a' / 'an' before a swapped-in term must fit it ("an immigrant", "a Muslim")."""
    match = ARTICLE_BEFORE.search(head)
    if not match:
        return head
    article = "an" if term[:1].lower() in "aeiou" else "a"
    if match.group(1)[0].isupper():
        article = article.capitalize()
    return head[:match.start(1)] + article + " "


def fill_template(template: str, ident: str,
                  terms: dict[tuple[str, str], str]) -> tuple[str, list[tuple[int, int]]] | None:
    """Fill every identity placeholder with `ident`'s term; None when a term is unknown."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    cursor = 0
    length = 0
    for m in IDENTITY_PLACEHOLDER.finditer(template):
        term = terms.get((m.group(0), ident))
        if term is None:
            return None
        if _at_sentence_start(template, m.start()):
            term = term[:1].upper() + term[1:]
        head = _agree_article(template[cursor:m.start()], term)
        out.append(head)
        length += len(head)
        spans.append((length, length + len(term)))
        out.append(term)
        length += len(term)
        cursor = m.end()
    out.append(template[cursor:])
    return "".join(out), spans


def hatecheck_variants(frame: pd.DataFrame, terms: dict[tuple[str, str], str],
                       identities: list[str]) -> tuple[list[IdentityVariant], int]:
    """All other-identity variants of the cases whose template refills to the case itself.

    Cases with slur placeholders, no identity placeholder, or whose own identity term differs
    from the canonical one (e.g. leetspeak spellings) are skipped, so an original and its variant
    differ only in the identity terms. Returns (variants, number of identity cases skipped).
    """
    variants: list[IdentityVariant] = []
    skipped = 0
    for templ, case, ident, case_id in zip(frame["case_templ"], frame["test_case"],
                                          frame["target_ident"], frame["case_id"]):
        if not ident or not IDENTITY_PLACEHOLDER.search(templ):
            continue
        own = fill_template(templ, ident, terms)
        if ANY_PLACEHOLDER.findall(templ) != IDENTITY_PLACEHOLDER.findall(templ) or own is None \
                or own[0] != case.strip():
            skipped += 1
            continue
        original, original_spans = own
        for other in identities:
            if other == ident:
                continue
            filled = fill_template(templ, other, terms)
            if filled is None:
                continue
            variants.append(IdentityVariant(str(case_id), original, filled[0], ident, other,
                                            tuple(original_spans), tuple(filled[1])))
    return variants, skipped


def require_hatecheck_columns(frame: pd.DataFrame, path: Path | str) -> None:
    missing = [c for c in HATECHECK_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: HateCheck column(s) {', '.join(missing)} not found")
