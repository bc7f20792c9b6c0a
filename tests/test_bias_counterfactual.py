"""Counterfactual swaps: word swapping, HateCheck identity variants on real rows, and the part."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec
from audit.data.resolver import DataResolver, builtin_path, read_text
from audit.errors import ConfigError, DataError
from audit.results import UNIT_PROPORTION, SuiteResult, group_key
from audit.run.suite import Context
from suites.bias import counterfactual as C
from suites.bias import swaps as S

SWAP_FILES = [builtin_path("winobias/generalized_swaps.txt"), builtin_path("winobias/extra_gendered_words.txt")]


@pytest.fixture(scope="module")
def table() -> dict[str, str]:
    pairs = [S.parse_swap_lines(read_text(p), path=str(p)) for p in SWAP_FILES]
    return S.build_swap_table(pairs, exclude=frozenset(C.DEFAULT_EXCLUDE), overrides={"her": "his"})


@pytest.fixture(scope="module")
def hatecheck() -> pd.DataFrame:
    return pd.read_csv(builtin_path("hatecheck/test_suite_cases.csv"), keep_default_na=False).astype({"case_id": str})


def _context(tmp_path: Path, adapter=None) -> Context:
    data = DataResolver(config_dir=tmp_path, prepared_dir=tmp_path)
    return Context(model_name="m", adapter=adapter, config=None, seed=0, data=data, artifacts_dir=tmp_path)


# ---------------------------------------------------------------- word swaps


def test_table_from_real_lists_works_both_ways(table):
    assert table["he"] == "she" and table["she"] == "he"
    assert table["cowboy"] == "cowgirl" and table["cowgirl"] == "cowboy"     # reverse of a one-way list entry
    assert table["her"] == "his" and table["his"] == "her"                   # override of the ambiguous reverse
    assert "miss" not in table and "godess" not in table.values()          # homograph and typo excluded


def test_swap_is_whole_word_case_preserving_and_consistent(table):
    text = "He told HIS Mother that the man and the men in Manhattan were heroes, he's sure."
    variant, reps = S.swap_words(text, table)
    assert variant == "She told HER Father that the woman and the women in Manhattan were heroes, she's sure."
    assert [r.original for r in reps] == ["He", "HIS", "Mother", "man", "men", "he"]
    for r in reps:
        assert text[r.start:r.end] == r.original and variant[r.new_start:r.new_end] == r.replacement
    assert S.swap_words("the mentor and the human heard her", table)[0] == "the mentor and the human heard his"


def test_swap_both_directions_round_trip(table):
    text = "she thanked her brother and his wife"
    there, _ = S.swap_words(text, table)
    assert there == "he thanked his sister and her husband"
    assert S.swap_words(there, table)[0] == text


def test_swap_list_with_three_columns_is_a_data_error():
    with pytest.raises(DataError, match=r"swaps.txt: line 2"):
        S.parse_swap_lines("he\tshe\nking queen extra\n", path="swaps.txt")


def test_gender_pairs_on_real_rt_polarity(table):
    sentences = read_text(builtin_path("rt_polarity/rt-polarity.pos")).splitlines()
    pairs = C.gender_pairs(sentences, table, None, np.random.default_rng(0))
    assert 800 < len(pairs) < len(sentences)
    assert all(p.original != p.variant and p.original_spans for p in pairs)
    limited = C.gender_pairs(sentences, table, 50, np.random.default_rng(0))
    assert len(limited) == 50 and limited == C.gender_pairs(sentences, table, 50, np.random.default_rng(0))


# ---------------------------------------------------------------- HateCheck identities


def test_identity_terms_learned_from_real_hatecheck(hatecheck):
    terms = S.learn_identity_terms(hatecheck)
    idents = sorted(i for i in hatecheck["target_ident"].unique() if i)
    assert len(idents) == 7
    assert {k for k in terms if k[0] == "[IDENTITY_P]"} == {("[IDENTITY_P]", i) for i in idents}
    assert terms[("[IDENTITY_P]", "women")] == "women"
    assert terms[("[IDENTITY_P]", "Muslims")] == "Muslims"
    assert terms[("[IDENTITY_S]", "black people")] == "black person"
    assert terms[("[IDENTITY_A]", "women")] == "female"
    assert terms[("[IDENTITY_S]", "immigrants")] == "immigrant"


def test_hatecheck_variants_on_real_rows(hatecheck):
    terms = S.learn_identity_terms(hatecheck)
    idents = sorted(i for i in hatecheck["target_ident"].unique() if i)
    variants, skipped = S.hatecheck_variants(hatecheck, terms, idents)
    first = {v.target_ident: v.variant for v in variants if v.case_id == "1"}   # "I hate women."
    assert first == {"trans people": "I hate trans people.", "gay people": "I hate gay people.",
                     "black people": "I hate black people.", "disabled people": "I hate disabled people.",
                     "Muslims": "I hate Muslims.", "immigrants": "I hate immigrants."}
    by_case = {}
    for v in variants:
        by_case.setdefault(v.case_id, []).append(v)
    assert all(len(vs) == 6 for vs in by_case.values())
    assert 2500 < len(by_case) and 0 < skipped < 200
    # sentence-initial placeholders are capitalised; spans cover exactly the identity terms
    starts = [v for v in variants if v.variant_spans[0][0] == 0]
    assert starts and all(v.variant[0].isupper() for v in starts)
    for v in variants[:500]:
        assert all(v.variant[s:e].lower() in {t.lower() for t in terms.values()} for s, e in v.variant_spans)
        assert all(v.original[s:e].lower() in {t.lower() for t in terms.values()} for s, e in v.original_spans)
    row = hatecheck.set_index("case_id").loc[variants[0].case_id]
    assert variants[0].original == row["test_case"].strip()
    slur_ids = set(hatecheck.loc[hatecheck["case_templ"].str.contains(r"\[SLUR_"), "case_id"])
    assert not slur_ids & set(by_case)


# ---------------------------------------------------------------- pure metrics


def test_pair_outcomes_and_clustered_mean_by_hand():
    p_orig = np.array([[0.8, 0.2], [0.4, 0.6], [0.3, 0.7]])
    p_var = np.array([[0.3, 0.7], [0.45, 0.55], [0.2, 0.8]])
    flipped, delta = C.pair_outcomes(p_orig, p_var, positive=1)
    assert flipped.tolist() == [True, False, False]
    assert np.allclose(delta, [0.5, -0.05, 0.1])
    est = C.clustered_mean(delta, ["a", "a", "b"], seed=0, resamples=200)
    assert est.value == pytest.approx(np.mean(delta)) and est.n == 3 and est.nan_share == 0.0
    # two clusters: a = (0.5 - 0.05) / 2 pairs, b = 0.1 / 1 pair; every resample is one of these ratios
    bounds = sorted({0.1, 0.45 / 2, 0.55 / 3})
    assert est.ci_low == pytest.approx(bounds[0]) and est.ci_high == pytest.approx(bounds[-1])


def test_positive_index():
    assert C.positive_index(["negative", "positive"], None) == 1
    assert C.positive_index(["POSITIVE", "NEGATIVE"], None) == 0
    assert C.positive_index(["LABEL_0", "LABEL_1"], None) == 1
    assert C.positive_index(["hate", "nothate"], "hate") == 0
    with pytest.raises(ConfigError, match="positive_label"):
        C.positive_index(["a", "b"], "c")


# ---------------------------------------------------------------- the part


class CountingAdapter:
    """Wraps a real adapter and counts classify calls (the part must make exactly one)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def classify(self, texts):
        self.calls += 1
        return self.inner.classify(texts)


def test_part_on_tiny_classifier(tmp_path, tiny_classifier_dir):
    adapter = CountingAdapter(load_adapter("tiny", ModelSpec(path=str(tiny_classifier_dir)),
                                           prepared_dir=tmp_path, cache_dir=None))
    part = C.CounterfactualPart()
    assert part.unsupported_reason(adapter) is None
    ctx = _context(tmp_path, adapter)
    result = SuiteResult(suite="bias", suite_version="1.0", model="tiny")
    part.run(ctx, C.CounterfactualConfig(limit=12, resamples=100), result)
    assert adapter.calls == 1
    overall = result.metric(C.FLIP_RATE)
    assert overall.n == 12 + 12 * 6 and overall.unit == UNIT_PROPORTION and 0 <= overall.value <= 1
    assert overall.ideal == 0.0 and "design-effect" in overall.ci_method
    # the tiny random model flips nothing: the interval still has an honest upper bound (no [0, 0])
    assert overall.ci_low <= overall.value <= overall.ci_high and overall.ci_high > 0
    assert result.metric(C.FLIP_RATE, group={"source": "gender_rt"}).n == 12
    assert result.metric(C.MEAN_ABS_DELTA, group={"source": "hatecheck"}).n == 72
    assert {group_key(m.group) for m in result.metrics if m.name == C.MEAN_ABS_DELTA} >= {
        "swap_to=women", "swap_to=Muslims", "swap_to=immigrants"}
    # recompute the overall mean |Δ p(positive)| from the pairs shown in the table
    rows = next(v for v in result.views if v.type == "table").rows
    probs = adapter.inner.classify([r[2] for r in rows] + [r[3] for r in rows])
    assert np.allclose([r[4] for r in rows], probs[len(rows):, 1] - probs[:len(rows), 1], atol=1e-4)
    assert result.details["counterfactual"]["pairs"] == 84
    assert {v.type for v in result.views} == {"bar_chart", "matrix_heatmap", "table", "examples"}
    example = result.examples[0]
    assert example.spans and all(example.text[s.start:s.end].strip() for s in example.spans)
    assert len(ctx.data.seen) == 5                     # two swap lists, two sentence files, HateCheck


def test_part_without_swappable_sentences_is_a_data_error(tmp_path, tiny_classifier_dir):
    plain = tmp_path / "plain.txt"
    plain.write_text("a quiet film about nothing .\n")
    adapter = load_adapter("tiny", ModelSpec(path=str(tiny_classifier_dir)), prepared_dir=tmp_path, cache_dir=None)
    cfg = C.CounterfactualConfig(sources=["gender_rt"], sentences=[str(plain)])
    with pytest.raises(DataError, match="plain.txt"):
        C.CounterfactualPart().run(_context(tmp_path, adapter), cfg,
                                   SuiteResult(suite="bias", suite_version="1.0", model="tiny"))


def test_unsupported_on_causal_lm(tmp_path, tiny_causal_dir):
    adapter = load_adapter("lm", ModelSpec(path=str(tiny_causal_dir)), prepared_dir=tmp_path, cache_dir=None)
    assert "classif" in C.CounterfactualPart().unsupported_reason(adapter)


def test_swapped_identity_keeps_the_article_right():
    from suites.bias.swaps import fill_template

    terms = {("[IDENTITY_S]", "immigrants"): "immigrant", ("[IDENTITY_S]", "Muslims"): "Muslim"}
    assert fill_template("He is a [IDENTITY_S].", "immigrants", terms)[0] == "He is an immigrant."
    assert fill_template("An [IDENTITY_S] like you", "Muslims", terms)[0] == "A Muslim like you"
    text, spans = fill_template("Such a [IDENTITY_S] again", "immigrants", terms)
    assert text[spans[0][0]:spans[0][1]] == "immigrant"
