"""The robustness suite on the real models and real rt-polarity data: the sentence encoder's
similarity constraint on a hand-made pair, the attacks on minilm-sentiment (every reported
adversarial example flips the real model, budgets and limits hold), and multiple choice on
smollm2-135m checked against a one-sequence-at-a-time reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from audit.models.adapters.base import CachePolicy
from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec
from audit.data.resolver import DataResolver
from audit.results import Condition
from audit.run.suite import Context
from audit.data.wordnet import DEBIAN_WORDNET_DIR, has_database
from suites.robustness.attacks.search import Document, Proposal
from suites.robustness.attacks.similarity import SentenceSimilarity, cosine_rows
from suites.robustness.attacks.word import WordExampleAttack
from suites.robustness.config import SENTENCE_ENCODER, RobustnessConfig, WordAttackConfig
from suites.robustness.export import EXPORT_FILE
from suites.robustness.metrics import PERTURB_ACCURACY
from suites.robustness.suite import RobustnessSuite
from tests.robustness_fakes import DictLexicon, FakeFactory

needs_wordnet = pytest.mark.skipif(not has_database(DEBIAN_WORDNET_DIR),
                                   reason="Debian's wordnet-base is not installed (make system-deps)")


@pytest.fixture(scope="module")
def encoder():
    return load_adapter("sentence-encoder", ModelSpec(path=SENTENCE_ENCODER, kind="encoder"), prepared_dir=Path("."),
                        cache_dir=None)


def test_similarity_constraint_rejects_a_candidate_that_changes_the_meaning(encoder):
    original = "the film is a delight from start to finish ."
    doc = Document.of(original)
    attack = WordExampleAttack(DictLexicon({}), WordAttackConfig(similarity_threshold=0.8),
                               SentenceSimilarity(encoder, original))
    synonym = Proposal(4, "pleasure", "the film is a pleasure from start to finish .")
    antonym = Proposal(4, "disaster", "the film is a disaster from start to finish .")
    kept = attack.constrain([synonym, antonym], doc)
    assert [p.word for p in kept] == ["pleasure"]
    vectors = encoder.embed([original, synonym.text, antonym.text], cache=CachePolicy.OFF)
    sims = cosine_rows(vectors[[0, 0]], vectors[1:])
    assert sims[0] >= 0.8 > sims[1]
    assert kept[0].similarity == pytest.approx(sims[0], abs=1e-5)


def _context(tmp_path: Path, adapter, prepared_dir: Path, config: dict, encoder) -> Context:
    resolver = DataResolver(config_dir=tmp_path, prepared_dir=prepared_dir)
    return Context(model_name=adapter.name, adapter=adapter, config=RobustnessConfig.model_validate(config), seed=0,
                   data=resolver, artifacts_dir=tmp_path / "artifacts", models=FakeFactory(encoder))


@pytest.mark.slow
@needs_wordnet
def test_real_classifier_perturbations_and_attacks(tmp_path, prepared_dir, encoder, monkeypatch):
    monkeypatch.setenv("RAI_AUDIT_CACHE", str(tmp_path / "cache"))
    classifier = load_adapter("minilm-sentiment", ModelSpec(path=str(prepared_dir / "minilm-sentiment")),
                              prepared_dir=prepared_dir, cache_dir=None)
    config = {"perturbations": {"limit": 30, "names": ["typo_substitute", "synonym_substitution"],
                                "sweep": None},
              "attacks": {"limit": 8, "word": {"query_budget": 60, "max_change_share": 0.3},
                          "char": {"query_budget": 40}}}
    ctx = _context(tmp_path, classifier, prepared_dir, config, encoder)
    result = RobustnessSuite().run(ctx)
    # clean accuracy against the model run one sentence at a time, outside the adapter
    rows = {r["id"]: r for r in map(json.loads, (prepared_dir / "rt_polarity" / "test.jsonl").open())}
    out = next(o for o in result.outcomes if o.metric == PERTURB_ACCURACY and o.condition == Condition.ORIGINAL)
    model, tokenizer = classifier.model, classifier.tokenizer
    with torch.no_grad():
        by_hand = [float(model(**tokenizer(rows[i]["text"], return_tensors="pt")).logits.argmax().item()
                         == classifier.labels.index(rows[i]["label"])) for i in out.example_ids]
    assert out.values == by_hand and len(by_hand) == 30
    assert result.metric(PERTURB_ACCURACY).value == pytest.approx(np.mean(by_hand))
    # every exported adversarial example flips the real model, within its budget and word limit
    exported = [json.loads(line) for line in (ctx.artifacts_dir / EXPORT_FILE).read_text().splitlines()]
    assert exported, "the attacks found nothing on 8 real examples"
    fresh = classifier.classify([r["adversarial"] for r in exported], cache=CachePolicy.OFF).argmax(axis=1)
    for row, predicted in zip(exported, fresh):
        assert classifier.labels[predicted] != row["label"]
        budget = config["attacks"][row["attack"]]["query_budget"]
        assert row["queries"]["requests"] <= budget
        words = len(Document.of(row["original"]).spans)
        share = config["attacks"]["word"]["max_change_share"] if row["attack"] == "word" else 0.25
        assert len(row["changes"]) <= max(1, int(share * words + 1e-9))
    word_rows = [r for r in exported if r["attack"] == "word"]
    if word_rows:
        pairs = [t for r in word_rows for t in (r["original"], r["adversarial"])]
        vectors = encoder.embed(pairs, cache=CachePolicy.OFF)
        sims = cosine_rows(vectors[0::2], vectors[1::2])
        assert (sims >= 0.8 - 1e-4).all()
        assert sims == pytest.approx([r["similarity"] for r in word_rows], abs=1e-4)
    details = result.details["attacks"]
    assert details["word"]["requests"] <= 60 * details["word"]["attacked"]
    assert details["char"]["cache_hits"] > 0, "the char attack re-uses the word attack's scored texts"


@pytest.mark.slow
@needs_wordnet
def test_real_causal_lm_multiple_choice(tmp_path, prepared_dir, encoder, monkeypatch):
    monkeypatch.setenv("RAI_AUDIT_CACHE", str(tmp_path / "cache"))
    lm = load_adapter("smollm2-135m", ModelSpec(path=str(prepared_dir / "smollm2-135m"), kind="causal_lm"),
                      prepared_dir=prepared_dir, cache_dir=None)
    ctx = _context(tmp_path, lm, prepared_dir, {"multiple_choice": {"limit": 12, "names": ["case"]}},
                   encoder)
    result = RobustnessSuite().run(ctx)
    clean = result.metric(PERTURB_ACCURACY)
    out = next(o for o in result.outcomes if o.metric == PERTURB_ACCURACY and o.condition == Condition.ORIGINAL)
    # reference: one full forward per (prompt, choice), log p of the choice's tokens after the prompt
    from suites.robustness.mc import load_task

    task = load_task(ctx, "rt_polarity_mc", 12)
    model, tokenizer = lm.model, lm.tokenizer
    correct = []
    with torch.no_grad():
        for text, label in zip(task.texts, task.labels):
            prompt = task.prompt(text)
            scores = []
            for choice in task.choices:
                context_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
                choice_ids = tokenizer(prompt + choice, add_special_tokens=False)["input_ids"][len(context_ids):]
                ids = torch.tensor([context_ids + choice_ids])
                logp = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
                positions = range(len(context_ids) - 1, len(context_ids) + len(choice_ids) - 1)
                scores.append(sum(logp[p, ids[0, p + 1]].item() for p in positions))
            correct.append(float(int(np.argmax(scores)) == int(label)))
    assert out.values == correct and clean.n == 12
    assert result.metric(PERTURB_ACCURACY, {"perturbation": "case"}, Condition.PERTURBED).n == 12
    assert result.details["parts"]["ran"] == ["multiple_choice"]
