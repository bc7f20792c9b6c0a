"""The attacks on a bag-of-words classifier whose decision we know: the important word is found
first, the query budget and the word-change limit are never exceeded, no text is scored twice, and
every reported adversarial example flips the prediction."""

from __future__ import annotations

import numpy as np
import pytest

from audit.models.adapters.metering import QueryMeter
from suites.robustness.attacks.char import CharAttack
from suites.robustness.attacks.run import STOP_UNVERIFIED, attack_example, fill_similarity, verify
from suites.robustness.attacks.search import (FAILED, SKIPPED, STOP_BUDGET, STOP_WORD_LIMIT, SUCCEEDED,
                                              BudgetedScorer, Document, rank_words)
from suites.robustness.attacks.validity import pos_consistent, word_validity
from suites.robustness.attacks.word import WordAttack, max_changes
from suites.robustness.config import CharAttackConfig, WordAttackConfig
from tests.robustness_fakes import BagOfWordsClassifier, BagOfWordsEncoder, DictLexicon

LEXICON = DictLexicon(
    {"film": ["movie", "picture"], "cast": ["crew", "troupe"], "plot": ["story", "storyline"],
     "great": ["outstanding", "big", "large"], "fine": ["good", "okay"], "long": ["lengthy"],
     "story": ["tale"], "acting": ["performance"], "music": ["score"], "ending": ["finale", "close"],
     "scenes": ["shots", "sequences"], "dull": ["boring", "tedious"], "warm": ["cordial"]},
    parts={"film": "n", "movie": "n", "great": "a", "outstanding": "a", "big": "a", "scenes": "n",
           "shots": "n", "sequences": "n", "cast": "n", "crew": "n"})
TEXT = "the film has a fine cast , a long plot and a great ending ."   # label: positive because of "great"


def rng_for(example_id: str, index: int) -> np.random.Generator:
    return np.random.default_rng([hash(example_id) % 1000, index])


def word_attack(encoder, **overrides) -> WordAttack:
    config = WordAttackConfig(**{"similarity_threshold": 0.5, "strict_similarity": 0.8, **overrides})
    return WordAttack(LEXICON, config, encoder)


def test_the_attack_finds_the_deciding_word_first():
    model = BagOfWordsClassifier({"great": 4.0}, bias=-2.0)
    meter, encoder = QueryMeter(model), BagOfWordsEncoder()
    record = attack_example(word_attack(encoder), "ex1", TEXT, 1, meter, QueryMeter(encoder))
    assert record.status == SUCCEEDED
    assert [c.old for c in record.changes] == ["great"]
    assert record.changes[0].new in LEXICON.synonyms("great")
    assert record.adversarial[record.changes[0].start:record.changes[0].end] == record.changes[0].new
    # calls: the original, then every leave-one-out text in one batch, then the synonyms of "great"
    assert len(model.calls) == 3 and model.calls[0] == [TEXT]
    assert len(model.calls[1]) == len([w for w in ("film", "fine", "cast", "long", "plot", "great", "ending")])
    assert all("great" not in t and any(s in t for s in LEXICON.synonyms("great")) for t in model.calls[2])
    assert record.queries["requests"] == 1 + 7 + len(model.calls[2])


def test_leave_one_out_ranks_by_probability_drop():
    model = BagOfWordsClassifier({"great": 4.0, "fine": 1.0, "dull": -3.0}, bias=-1.0)
    meter = QueryMeter(model)
    doc = Document.of("a fine and great film")
    with meter.scope("x", budget=100) as count:
        scorer = BudgetedScorer(meter.adapter, count)
        base = scorer.score([doc.original])[doc.original]
        order, drop = rank_words(doc, [1, 3, 4], 1, base[1], scorer)
    assert order == [3, 1, 4]
    assert drop[4] == pytest.approx(0.0) and drop[3] > drop[1] > 0


def _stubborn_model() -> BagOfWordsClassifier:
    """Every original word adds a little to 'positive'; synonyms add nothing: the attack lowers the
    probability at each step but can never flip it."""
    words = ["film", "cast", "plot", "great", "fine", "long", "story", "acting", "music", "ending", "scenes", "warm"]
    return BagOfWordsClassifier({w: 0.1 for w in words}, bias=6.0)


@pytest.mark.parametrize("budget", [1, 2, 5, 8, 9, 13, 20, 40, 200])
@pytest.mark.parametrize("share", [0.1, 0.3, 1.0])
def test_budget_and_word_limit_are_never_exceeded(budget, share):
    text = "the film had warm acting , great music and long scenes but a fine story and cast ."
    for attack in (word_attack(BagOfWordsEncoder(), query_budget=budget, max_change_share=share),
                   CharAttack(CharAttackConfig(query_budget=budget, max_change_share=share), rng_for)):
        model = _stubborn_model()
        record = attack_example(attack, "ex", text, 1, QueryMeter(model), None)
        sent = sum(len(call) for call in model.calls)
        assert record.queries["requests"] == sent <= budget
        assert record.status == FAILED
        assert len(Document.of(text).spans) * share + 1e-9 >= len(record.changes) or len(record.changes) <= 1
        assert record.stop_reason in (STOP_BUDGET, STOP_WORD_LIMIT, "no_more_words")
        if budget >= 200:
            assert record.stop_reason == STOP_WORD_LIMIT or share == 1.0


def test_no_text_is_scored_twice_and_the_cache_serves_the_second_attack():
    model = _stubborn_model()
    meter, encoder = QueryMeter(model), BagOfWordsEncoder()
    text = "the film had warm acting , great music and long scenes but a fine story and cast ."
    first = attack_example(word_attack(encoder, query_budget=500, max_change_share=1.0), "e", text, 1, meter, None)
    sent = [t for call in model.calls for t in call]
    assert len(sent) == len(set(sent)) == first.queries["requests"]
    assert first.queries["cache_hits"] == 0
    model.calls.clear()
    second = attack_example(CharAttack(CharAttackConfig(query_budget=500), rng_for), "e", text, 1, meter, None)
    # the original and the 10 leave-one-out texts (content words) were already scored by the word attack
    assert second.queries["cache_hits"] == 1 + 10
    assert second.queries["model_queries"] + second.queries["cache_hits"] == second.queries["requests"]


def test_every_reported_adversarial_example_flips_the_prediction():
    rng = np.random.default_rng(0)
    vocab = sorted(set(LEXICON.table) | {s for v in LEXICON.table.values() for s in v})
    successes = 0
    for trial in range(40):
        weights = {w: float(rng.normal(0, 1.5)) for w in vocab}
        model = BagOfWordsClassifier(weights, bias=float(rng.normal(0, 0.5)))
        words = list(rng.choice(vocab, size=8)) + ["the", "and"]
        text = " ".join(rng.permutation(words))
        label = int(np.argmax(model.probs(text)))
        for attack in (word_attack(BagOfWordsEncoder(), query_budget=60),
                       CharAttack(CharAttackConfig(query_budget=60, max_change_share=0.5), rng_for)):
            record = attack_example(attack, f"t{trial}", text, label, QueryMeter(model), None)
            if record.status == SUCCEEDED:
                successes += 1
                assert int(np.argmax(model.probs(record.adversarial))) != label
                assert int(np.argmax(record.adversarial_probs)) != label
                assert len(record.changes) <= attack.max_changes(len(Document.of(text).spans))
    assert successes >= 10


def test_a_misclassified_example_is_skipped_after_one_query():
    model = BagOfWordsClassifier({"great": 4.0}, bias=-2.0)
    record = attack_example(word_attack(BagOfWordsEncoder()), "e", TEXT, 0, QueryMeter(model), None)
    assert record.status == SKIPPED and record.queries["requests"] == 1


def test_verification_demotes_a_success_that_does_not_flip():
    model = BagOfWordsClassifier({"great": 4.0}, bias=-2.0)
    record = attack_example(word_attack(BagOfWordsEncoder()), "e", TEXT, 1, QueryMeter(model), None)
    good = attack_example(word_attack(BagOfWordsEncoder()), "f", TEXT, 1, QueryMeter(model), None)
    record.adversarial = TEXT                       # pretend the search reported a non-flip
    assert verify([record, good], model) == 1
    assert record.status == FAILED and record.stop_reason == STOP_UNVERIFIED
    assert good.status == SUCCEEDED and good.verified is True


def test_char_attack_edits_one_character_per_word_and_gets_a_similarity():
    model = BagOfWordsClassifier({"great": 4.0}, bias=-2.0)
    attack = CharAttack(CharAttackConfig(query_budget=50), rng_for)
    record = attack_example(attack, "e", TEXT, 1, QueryMeter(model), None)
    assert record.status == SUCCEEDED and [c.old for c in record.changes] == ["great"]
    assert 1 <= abs(len(record.changes[0].new) - len("great")) + sum(
        a != b for a, b in zip(record.changes[0].new, "great")) <= 2
    assert record.similarity is None
    fill_similarity([record], BagOfWordsEncoder())
    assert 0 < record.similarity < 1


def test_similarity_constraint_filters_candidates_before_the_classifier_sees_them():
    model = BagOfWordsClassifier({"great": 4.0}, bias=-2.0)
    # one changed word in 11 keeps the bag-of-words cosine at 10/11 = 0.91: a threshold of 0.95 rejects all
    record = attack_example(word_attack(BagOfWordsEncoder(), similarity_threshold=0.95, strict_similarity=0.95),
                            "e", TEXT, 1, QueryMeter(model), None)
    assert record.status == FAILED
    assert len(model.calls) == 2                    # the original and the leave-one-out batch only


def test_max_changes_is_a_floor_of_the_share_with_at_least_one():
    assert max_changes(0.25, 8) == 2 and max_changes(0.25, 3) == 1 and max_changes(1.0, 5) == 5


def test_validity_checks_part_of_speech_inflection_and_similarity():
    assert pos_consistent("film", "movie", LEXICON) is True
    assert pos_consistent("scenes", "shots", LEXICON) is True
    assert pos_consistent("scenes", "movie", LEXICON) is False       # plural -> singular
    assert pos_consistent("great", "movie", LEXICON) is False        # adjective -> noun
    assert pos_consistent("unknown", "movie", LEXICON) is None
    assert word_validity([("film", "movie")], 0.95, 0.9, LEXICON).valid
    assert not word_validity([("film", "movie")], 0.85, 0.9, LEXICON).valid
    assert not word_validity([("film", "xqzt")], 0.95, 0.9, LEXICON).valid


def test_shown_examples_mix_valid_and_invalid_successes():
    from suites.robustness.attack_report import adversarial_examples
    from suites.robustness.attacks.validity import Validity

    model = BagOfWordsClassifier({"great": 4.0}, bias=-2.0)
    records = [attack_example(word_attack(BagOfWordsEncoder()), f"e{i}", TEXT, 1, QueryMeter(model), None)
               for i in range(8)]
    for i, record in enumerate(records):
        record.validity = Validity(similarity=i < 6, pos=True, known_words=True)
    shown = adversarial_examples(records, ["negative", "positive"], 4)
    assert [ex.tags[-1] for ex in shown] == ["valid", "valid", "fails: similarity", "fails: similarity"]
    assert all(ex.spans and ex.text[ex.spans[0].start:ex.spans[0].end] != "great" for ex in shown)
    assert len(adversarial_examples(records, ["negative", "positive"], 20)) == 8
