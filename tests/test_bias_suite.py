"""BiasSuite: parts chosen by capability on tiny models; explicit unsupported parts are config errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from audit.models.adapters.base import Capability
from audit.models.resolve import load_adapter
from audit.config.schema import ModelSpec
from audit.data.resolver import DataResolver
from audit.errors import ConfigError
from audit.results import Severity, SuiteResult
from audit.run.suite import Context
from suites.bias.suite import PART_KEYS, BiasConfig, BiasSuite

# keep the tiny-model runs small; every part still reads its real default data
SMALL = {"templates": {"limit": 4}, "crows_pairs": {"limit": 20}, "winobias": {"limit": 5},
         "bbq": {"limit_per_category": 3, "categories": ["Age", "Religion"]},
         "counterfactual": {"limit": 10}, "fairness": {"limit": 200}}


def _run(model_dir: Path, tmp_path: Path, config: dict) -> SuiteResult:
    adapter = load_adapter("m", ModelSpec(path=str(model_dir), device="cpu"), prepared_dir=tmp_path, cache_dir=None)
    ctx = Context(model_name="m", adapter=adapter, config=BiasConfig.model_validate(config), seed=0,
                  data=DataResolver(config_dir=tmp_path, prepared_dir=tmp_path), artifacts_dir=tmp_path)
    result = BiasSuite().run(ctx)
    SuiteResult.model_validate_json(result.model_dump_json())  # serialisable as results.json
    return result


def _prefixes(result: SuiteResult) -> set[str]:
    return {m.name.split(".")[0] for m in result.metrics}


def _skipped(result: SuiteResult) -> set[str]:
    return {f.evidence["part"] for f in result.findings if f.severity == Severity.INFO and "part" in f.evidence}


def test_empty_config_defaults_every_part():
    cfg = BiasConfig.model_validate({})
    assert cfg.parts == "auto" and all(getattr(cfg, key) is not None for key in PART_KEYS)
    assert BiasSuite().required_capabilities(cfg) == frozenset({Capability.TOKENIZE})


def test_config_errors_name_the_key():
    with pytest.raises(ValidationError, match="parts"):
        BiasConfig.model_validate({"parts": ["crows_pairs", "stereoset"]})
    with pytest.raises(ValidationError, match="extra"):
        BiasConfig.model_validate({"crowspairs": {}})


def test_masked_lm_runs_templates_crows_winobias(tiny_mlm_dir, tmp_path):
    result = _run(tiny_mlm_dir, tmp_path, SMALL)
    assert _prefixes(result) == {"templates", "crows_pairs", "winobias"}
    assert _skipped(result) == {"bbq", "counterfactual", "fairness"}
    assert result.details["parts"]["ran"] == ["templates", "crows_pairs", "winobias"]
    assert result.metric("crows_pairs.metric").n == 20


def test_causal_lm_adds_bbq(tiny_causal_dir, tmp_path):
    result = _run(tiny_causal_dir, tmp_path, SMALL)
    assert _prefixes(result) == {"templates", "crows_pairs", "winobias", "bbq"}
    assert _skipped(result) == {"counterfactual", "fairness"}


def test_classifier_runs_counterfactual_and_fairness(tiny_classifier_dir, tmp_path):
    result = _run(tiny_classifier_dir, tmp_path, SMALL)
    assert _prefixes(result) == {"counterfactual", "fairness"}
    assert _skipped(result) == {"templates", "crows_pairs", "winobias", "bbq"}


def test_explicit_unsupported_part_is_config_error(tiny_classifier_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"bias.parts: part 'crows_pairs' cannot run"):
        _run(tiny_classifier_dir, tmp_path, {**SMALL, "parts": ["crows_pairs"]})


def test_explicit_parts_run_only_those(tiny_mlm_dir, tmp_path):
    result = _run(tiny_mlm_dir, tmp_path, {**SMALL, "parts": ["winobias"]})
    assert _prefixes(result) == {"winobias"} and not _skipped(result)


@pytest.mark.slow
def test_real_smollm2_small_run(prepared_dir, tmp_path):
    """SmolLM2-135M on small seeded subsets: every causal part runs with real data, and the
    template probes show the stereotype direction LMs are known for (occupations stereotyped
    as male lean 'he'/'father' more than female-stereotyped ones): a sign error would fail here."""
    config = {"parts": ["templates", "crows_pairs", "winobias"], "templates": {"limit": 10},
              "crows_pairs": {"limit": 30}, "winobias": {"limit": 10}}
    result = _run(prepared_dir / "smollm2-135m", tmp_path, config)
    assert result.details["templates"]["scoring"] == "causal_ll"
    crows = result.metric("crows_pairs.metric")
    assert crows.n == 30 and 0 < crows.value < 1 and crows.ci_low < crows.ci_high
    assert result.metric("winobias.pro_preference", {"type": "2"}).n == 10
    gap = result.metric("templates.stereotype_gap")
    assert gap.n == 10 and gap.value > 0
