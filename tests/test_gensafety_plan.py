"""The `extended` profile is larger than the default at the config / plan level (nothing is generated):
every bundled prompt, k = 10, all three injection variants, more planted secrets and elicitation
samples; examples/full.yaml runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from suites.generation_safety.config import GenerationSafetyConfig
from suites.generation_safety.injection_part import build_items
from suites.generation_safety.plan import bundled_rows, plan
from suites.generation_safety.prompts import BUNDLED, DATA, PromptSet

ROOT = Path(__file__).resolve().parents[1]


def test_extended_profile_expands_prompts_k_and_variants():
    default, extended = GenerationSafetyConfig(), GenerationSafetyConfig(profile="extended")
    rows = bundled_rows()
    assert rows == {"toxicity": 40, "refusal": 24, "injection": 12, "elicitation": 12}   # the bundled files
    small, large = plan(default), plan(extended)
    assert extended.toxicity.k == 10 > default.toxicity.k
    assert extended.injection.variants == ["plain", "paraphrased", "encoded"] and default.injection.variants == ["plain"]
    assert large["toxicity"].prompts == rows["toxicity"]            # every bundled prompt, k each
    assert large["toxicity"].generations == 10 * rows["toxicity"] > small["toxicity"].generations
    assert large["injection"].prompts == rows["injection"] * (1 + 2 * 3) > small["injection"].prompts
    assert large["leakage"].prompts > small["leakage"].prompts
    assert large["leakage"].generations > small["leakage"].generations
    assert large["refusal"].prompts == small["refusal"].prompts == 2 * rows["refusal"]   # all pairs in both
    for part in large:
        assert large[part].max_new_tokens >= small[part].max_new_tokens
    total = lambda p: sum(x.generations for x in p.values())
    assert total(large) > 2 * total(small), (total(small), total(large))


def test_plan_counts_match_what_the_injection_part_builds():
    cfg = GenerationSafetyConfig(profile="extended")
    tasks = PromptSet(rows=[json.loads(line) for line in (DATA / BUNDLED["injection"]).read_text().splitlines()],
                      path="bundled")
    items = build_items(cfg.injection, tasks, lambda *keys: 0)
    assert {i.variant for i in items} == {"plain", "paraphrased", "encoded"}
    assert plan(cfg)["injection"].prompts == len(items) + len(tasks.rows)


def test_extended_raises_small_settings_and_keeps_larger_ones():
    raised = GenerationSafetyConfig.model_validate({"profile": "extended", "toxicity": {"k": 4}})
    kept = GenerationSafetyConfig.model_validate({"profile": "extended", "toxicity": {"k": 20}})
    assert raised.toxicity.k == 10 and kept.toxicity.k == 20
    again = GenerationSafetyConfig.model_validate(raised.model_dump(mode="json"))   # as a job re-validates it
    assert again.toxicity.k == 10 and again.injection.variants == raised.injection.variants


def test_plan_needs_row_counts_for_a_custom_prompt_file():
    cfg = GenerationSafetyConfig.model_validate({"toxicity": {"prompts": "mine.jsonl"}})
    with pytest.raises(ValueError, match="toxicity"):
        plan(cfg)
    assert plan(cfg, {**bundled_rows(), "toxicity": 3})["toxicity"].generations == 3 * cfg.toxicity.k


def test_full_example_runs_the_extended_profile():
    config = yaml.safe_load((ROOT / "examples" / "full.yaml").read_text())
    blocks = [b for b in config["suites"] if b["suite"] == "generation_safety"]
    assert blocks and all(b["config"].get("profile") == "extended" for b in blocks)
    for block in blocks:
        cfg = GenerationSafetyConfig.model_validate(block["config"])
        assert cfg.toxicity.k == 10 and len(cfg.injection.variants) == 3
