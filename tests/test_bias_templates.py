"""Template probes: Kurita score vs a hand computation with the model, causal path, probe-file errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec
from audit.data.resolver import DataResolver
from audit.errors import DataError
from audit.results import SuiteResult
from audit.run.suite import Context
from tests.reference import causal_sentence_logprob
from suites.bias.template_probes import DEFAULT_PROBES, Attribute, balanced_subset, fill, load_probes
from suites.bias.templates import (ASSOCIATION, STEREOTYPE_GAP, TemplateProbeConfig, TemplateProbePart, causal_cells,
                                   masked_cells, stereotype_gap)

PROBES = """
name: test
groups: [male, female]
target_sets:
  pronoun: {male: [he], female: [she]}
attributes:
  - {words: [hairdresser, nurse], label: female}
  - {words: [carpenter], label: male}
templates:
  - {text: "[TARGET] is a [ATTRIBUTE].", targets: pronoun}
"""


def _resolver(tmp_path: Path) -> DataResolver:
    return DataResolver(config_dir=tmp_path, prepared_dir=tmp_path)


def _adapter(model_dir: Path, tmp_path: Path):
    return load_adapter("m", ModelSpec(path=str(model_dir), device="cpu"), prepared_dir=tmp_path, cache_dir=None)


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "probes.yaml"
    path.write_text(text)
    return str(path)


def test_kurita_score_matches_hand_computation(tiny_mlm_dir, tmp_path):
    probes = load_probes(_resolver(tmp_path), _write(tmp_path, PROBES))
    adapter = _adapter(tiny_mlm_dir, tmp_path)
    cells = masked_cells(adapter, probes.templates, probes.attributes, ["male", "female"])
    model = AutoModelForMaskedLM.from_pretrained(tiny_mlm_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_mlm_dir)
    n_pieces = len(tok.tokenize("hairdresser"))
    assert n_pieces > 1  # exercises consecutive masks in the prior sentence

    def logp_first_mask(text: str, word: str) -> float:
        enc = tok(text, return_tensors="pt")
        pos = (enc["input_ids"][0] == tok.mask_token_id).nonzero()[0].item()
        with torch.no_grad():
            logits = model(**enc).logits[0, pos]
        return torch.log_softmax(logits, -1)[tok.convert_tokens_to_ids(word)].item()

    for cell in cells:
        word = cell.attribute.word
        masks = " ".join(["[MASK]"] * len(tok.tokenize(word)))
        score = {}
        for target in ("he", "she"):
            p_tgt = logp_first_mask(f"[MASK] is a {word}.", target)
            p_prior = logp_first_mask(f"[MASK] is a {masks}.", target)
            score[target] = p_tgt - p_prior   # log(p_tgt / p_prior)
        assert cell.association == pytest.approx(score["he"] - score["she"], abs=1e-5)
        assert cell.skipped_words == ()
    assert len({round(c.association, 8) for c in cells}) == 3  # not a constant


def test_causal_association_is_loglikelihood_difference(tiny_causal_dir, tmp_path):
    probes = load_probes(_resolver(tmp_path), _write(tmp_path, PROBES))
    adapter = _adapter(tiny_causal_dir, tmp_path)
    cells = causal_cells(adapter, probes.templates, probes.attributes, ["male", "female"])
    model = AutoModelForCausalLM.from_pretrained(tiny_causal_dir).eval()
    tok = AutoTokenizer.from_pretrained(tiny_causal_dir)

    def ll(text: str) -> float:
        return causal_sentence_logprob(model, tok, text)

    for cell in cells:
        w = cell.attribute.word
        assert cell.association == pytest.approx(ll(f"He is a {w}.") - ll(f"She is a {w}."), abs=1e-4)


def test_fill_articles_and_capitals():
    assert fill("[TARGET] is a [ATTRIBUTE].", "he", "attendant") == "He is an attendant."
    assert fill("My [TARGET] is a [ATTRIBUTE].", "son", "nurse") == "My son is a nurse."
    assert fill("[TARGET] is a [ATTRIBUTE].", "he", "[MASK]", article_for="editor") == "He is an [MASK]."


@pytest.mark.parametrize("bad, message", [
    (PROBES.replace('"[TARGET] is a [ATTRIBUTE]."', '"He is a [ATTRIBUTE]."'),
     r"probes.yaml: templates\[0\]: .*\[TARGET\]"),
    (PROBES + '  - {text: "[TARGET] is nice.", targets: pronoun}\n', r"probes.yaml: templates\[1\]: .*\[ATTRIBUTE\]"),
    (PROBES + '  - {text: "[TARGET] is a [ATTRIBUTE].", targets: nouns}\n', r"probes.yaml: templates\[1\]: .*nouns"),
    (PROBES.replace("label: male", "label: martian"), r"probes.yaml: attributes\[1\]: .*martian"),
    (PROBES.replace("female: [she]", "female: [she], robot: [it]"), r"probes.yaml: target_sets.pronoun: .*robot"),
])
def test_probe_file_errors_name_file_and_row(tmp_path, bad, message):
    with pytest.raises(DataError, match=message):
        load_probes(_resolver(tmp_path), _write(tmp_path, bad))


def test_shipped_probe_file_reads_winobias_occupations(tmp_path):
    data = _resolver(tmp_path)
    probes = load_probes(data, DEFAULT_PROBES)
    assert len(probes.attributes) == 40 and {a.label for a in probes.attributes} == {"male", "female"}
    assert len(probes.templates) >= 5
    assert any(p.endswith("male_occupations.txt") for p in data.seen)


def test_balanced_subset_and_gap():
    attrs = [Attribute(f"m{i}", "male") for i in range(10)] + [Attribute(f"f{i}", "female") for i in range(10)]
    chosen = balanced_subset(attrs, 6, np.random.default_rng(0))
    assert len(chosen) == 6 and sum(a.label == "male" for a in chosen) == 3
    assert chosen == balanced_subset(attrs, 6, np.random.default_rng(0))
    values = np.array([1.0, 3.0, -1.0, 0.0])
    labels = np.array(["male", "male", "female", "female"])
    assert stereotype_gap(values, labels, "male", "female") == pytest.approx(2.0 - (-0.5))


def test_part_on_tiny_mlm(tiny_mlm_dir, tmp_path):
    adapter = _adapter(tiny_mlm_dir, tmp_path)
    ctx = Context(model_name="m", adapter=adapter, config=None, seed=0, data=_resolver(tmp_path),
                  artifacts_dir=tmp_path)
    result = SuiteResult(suite="bias", suite_version="1.0", model="m")
    TemplateProbePart().run(ctx, TemplateProbeConfig(limit=6, top_k=3), result)
    overall = result.metric(ASSOCIATION)
    assert overall.n == 6 and overall.ci_low <= overall.value <= overall.ci_high
    assert result.metric(ASSOCIATION, {"stereotype": "male"}).n == 3
    gap = result.metric(STEREOTYPE_GAP)
    assert gap is not None and gap.ideal == 0.0 and gap.higher_is_better is None and 0 <= gap.nan_share < 1
    # template groups are short stable ids; the sentence is in the description and the table
    per_template = [m for m in result.metrics if m.name == ASSOCIATION and m.group and "template" in m.group]
    assert [m.group["template"] for m in per_template] == [f"t{i:02d}" for i in range(len(per_template))]
    table = next(v for v in result.views if v.type == "table" and v.columns[:2] == ["id", "template"])
    sentences = {row[0]: row[1] for row in table.rows}
    for m in per_template:
        assert sentences[m.group["template"]] in m.description and "[TARGET]" in sentences[m.group["template"]]
    fills = [e for e in result.examples if "top_fills" in e.fields]
    assert fills and all(e.fields["top_fills"].count("(") == 3 for e in fills)
    assert {v.type for v in result.views} == {"bar_chart", "table", "examples"}
