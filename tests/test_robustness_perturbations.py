"""Natural perturbations: deterministic for a seed, identity at severity 0, and each changes only
what it says it changes (checked on real rt-polarity sentences)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from audit.data.resolver import builtin_path, read_text
from suites.robustness.perturbations import CATALOGUE, PERTURBATION_NAMES, build
from suites.robustness.perturbations.contractions import contraction, expansion
from suites.robustness.perturbations.names import load_names
from suites.robustness.perturbations.typos import KEY_NEIGHBOURS
from suites.robustness.text import WORD_RE, STOPWORDS, replace_words, word_spans
from tests.robustness_fakes import DictLexicon

SENTENCES = [line for line in read_text(builtin_path("rt_polarity/rt-polarity.pos")).splitlines()[:60]
             if line.strip()] + ["Michael and Sarah said it is not a movie , but mary's film doesn't bore ."]
LEXICON = DictLexicon({"film": ["movie", "picture"], "movie": ["film", "flick"], "funny": ["comic", "amusing"],
                       "good": ["fine", "decent"], "story": ["tale", "narrative"], "best": ["finest"],
                       "great": ["outstanding"], "director": ["filmmaker"], "performance": ["acting"]})


def perturb(name: str, text: str, seed: int = 0, severity: float | None = None) -> str:
    p = build(name, LEXICON)
    return p(text, np.random.default_rng(seed), CATALOGUE[name].default_severity if severity is None else severity)


def words(text: str) -> list[str]:
    return WORD_RE.findall(text)


def non_words(text: str) -> str:
    """Everything but the words (punctuation and spacing, in order)."""
    return WORD_RE.sub("", text)


@pytest.mark.parametrize("name", PERTURBATION_NAMES)
def test_deterministic_for_a_seed_and_identity_at_zero(name):
    severity = 0.5 if CATALOGUE[name].default_severity < 1 else 1.0
    first = [perturb(name, s, seed=3, severity=severity) for s in SENTENCES]
    again = [perturb(name, s, seed=3, severity=severity) for s in SENTENCES]
    assert first == again
    assert [perturb(name, s, severity=0.0) for s in SENTENCES] == SENTENCES
    assert any(a != b for a, b in zip(first, SENTENCES)), f"{name} changed nothing at severity {severity}"
    if name not in ("contraction", "expansion", "name_swap"):   # these have no randomness at severity 1
        other = [perturb(name, s, seed=4, severity=severity) for s in SENTENCES]
        assert other != first


def _typo_pairs(name: str, severity: float = 0.5) -> list[tuple[str, str]]:
    pairs = []
    for s in SENTENCES:
        out = perturb(name, s, severity=severity)
        assert non_words(out) == non_words(s), "only letters inside words may change"
        assert len(words(out)) == len(words(s))
        pairs += [(a, b) for a, b in zip(words(s), words(out)) if a != b]
    assert pairs
    return pairs


def test_typo_substitute_replaces_one_letter_by_a_neighbouring_key():
    for old, new in _typo_pairs("typo_substitute"):
        diff = [(a, b) for a, b in zip(old, new) if a != b]
        assert len(old) == len(new) and len(diff) == 1
        assert diff[0][1].lower() in KEY_NEIGHBOURS[diff[0][0].lower()]


def test_typo_delete_drops_one_letter():
    for old, new in _typo_pairs("typo_delete"):
        assert len(new) == len(old) - 1 and any(old[:i] + old[i + 1:] == new for i in range(len(old)))


def test_typo_insert_adds_one_neighbouring_key():
    for old, new in _typo_pairs("typo_insert"):
        assert len(new) == len(old) + 1
        assert any(new[:i + 1] + new[i + 2:] == old and new[i + 1] in KEY_NEIGHBOURS[old[i].lower()]
                   for i in range(len(old)))


def test_typo_transpose_swaps_two_adjacent_letters():
    for old, new in _typo_pairs("typo_transpose"):
        i = next(k for k in range(len(old)) if old[k] != new[k])
        assert new == old[:i] + old[i + 1] + old[i] + old[i + 2:]


def test_typos_at_a_higher_severity_keep_the_lower_severity_typos():
    for s in SENTENCES[:20]:
        low, high = perturb("typo_substitute", s, severity=0.1), perturb("typo_substitute", s, severity=0.4)
        changed_low = {i for i, (a, b) in enumerate(zip(words(s), words(low))) if a != b}
        assert all(words(high)[i] == words(low)[i] for i in changed_low)


def test_case_changes_only_case():
    changed = 0
    for s in SENTENCES:
        out = perturb("case", s, severity=0.5)
        assert out.lower() == s.lower()
        changed += out != s
    assert changed > len(SENTENCES) // 2


def test_punctuation_keeps_words_and_changes_only_marks():
    for s in SENTENCES:
        out = perturb("punctuation", s, severity=0.6)
        assert words(out) == words(s)
        assert not set(non_words(out)) - set(non_words(s)) - set(",;:")
        assert "!" not in set(non_words(out)) - set(non_words(s))


def test_whitespace_only_adds_spaces():
    for s in SENTENCES:
        out = perturb("whitespace", s, severity=0.6)
        assert out.split() == s.split() and len(out) >= len(s)


def test_contractions_and_expansions_are_exact():
    rng = np.random.default_rng(0)
    text = "It is not that he does not care ; they are late , cannot wait . Notice: this is it"
    assert contraction(text, rng, 1.0) == \
        "It's not that he doesn't care ; they're late , can't wait . Notice: this is it"
    assert expansion("It's what she's got , don't ask ; the film's end", rng, 1.0) == \
        "It is what she is got , do not ask ; the film's end"
    assert expansion(contraction("they are here", rng, 1.0), rng, 1.0) == "they are here"


def test_word_deletion_keeps_a_subsequence_and_the_punctuation():
    for s in SENTENCES:
        out = perturb("word_deletion", s, severity=0.3)
        kept = iter(words(s))
        assert all(w in kept for w in words(out)), "deletion must keep the words' order"
        marks = [c for c in s if not c.isalnum() and c not in " '"]
        assert [c for c in out if not c.isalnum() and c not in " '"] == marks
        assert "  " not in out or "  " in s
        assert words(out)


def test_random_swap_keeps_the_same_words():
    changed = 0
    for s in SENTENCES:
        out = perturb("random_swap", s, severity=0.2)
        assert Counter(words(out)) == Counter(words(s)) and non_words(out) == non_words(s)
        changed += out != s
    assert changed > len(SENTENCES) // 2


def test_synonym_substitution_uses_the_lexicon_and_spares_stopwords():
    changed = 0
    for s in SENTENCES:
        out = perturb("synonym_substitution", s, severity=0.3)
        assert non_words(out) == non_words(s) and len(words(out)) == len(words(s))
        for old, new in zip(words(s), words(out)):
            if old != new:
                changed += 1
                assert old.lower() not in STOPWORDS and new.lower() in LEXICON.synonyms(old)
    assert changed


def test_random_insertion_inserts_synonyms_of_words_in_the_text():
    inserted_any = False
    for s in SENTENCES:
        out = perturb("random_insertion", s, severity=0.2)
        rest = Counter(words(out)) - Counter(words(s))
        assert sum(Counter(words(s)).values()) + sum(rest.values()) == len(words(out))
        for word in rest:
            inserted_any = True
            assert any(word in LEXICON.synonyms(w) for w in words(s))
    assert inserted_any


def test_name_swap_changes_only_names_within_their_list():
    names = load_names()
    text = "Michael told sarah that michael's friend MARY liked the film ."
    out = perturb("name_swap", text)
    before, after = words(text), words(out)
    assert len(before) == len(after)
    mapping = {}
    for old, new in zip(before, after):
        key = old.lower().split("'")[0]
        if names.list_of(key) is None:
            assert old == new
        else:
            assert new != old and names.list_of(new.lower().split("'")[0]) is names.list_of(key)
            mapping.setdefault(key, new.lower().split("'")[0])
            assert mapping[key] == new.lower().split("'")[0], "one name, one replacement"
    assert after[0][0].isupper() and after[6].isupper() and after[4].endswith("'s")


def test_names_file_names_its_source_and_licence():
    names = load_names()
    assert "Social Security" in names.source
    assert not set(names.lists[0]) & set(names.lists[1])


def test_replace_words_deletes_with_one_space():
    text = "a b, c d"
    spans = word_spans(text)
    assert replace_words(text, spans, {1: ""}).text == "a, c d"
    assert replace_words(text, spans, {3: ""}).text == "a b, c"
    assert replace_words(text, spans, {0: "", 2: "X"}).text == "b, X d"
