"""Integrated gradients: adaptive steps, and exclusion with a WARN when completeness is not reached."""

from __future__ import annotations

import dataclasses

import numpy as np

from audit.data.resolver import DataResolver
from audit.results import SuiteResult
from audit.run.suite import Context
from suites.explainability import assemble as M
from suites.explainability.config import ExplainabilityConfig
from suites.explainability.suite import ExplainabilitySuite
from tests.explain_fakes import BowAdapter
from tests.test_explain_suite import WEIGHTS, _csv


class UnconvergedIg(BowAdapter):
    """IG attributions that miss completeness until `converges_at` steps (never, by default)."""

    def __init__(self, *args, converges_at: int = 10_000, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.converges_at = converges_at
        self.steps_asked: list[int] = []

    def gradients(self, requests):
        out = super().gradients(requests)
        self.steps_asked += [r.steps for r in requests]
        return [a if r.steps >= self.converges_at else dataclasses.replace(a, scores=np.asarray(a.scores) * 0.5)
                for a, r in zip(out, requests)]


def _run(adapter, tmp_path) -> SuiteResult:
    config = {"examples": {"dataset": {"path": str(_csv(tmp_path))}, "n": 6}, "methods": ["occlusion",
              "integrated_gradients"], "integrated_gradients": {"steps": 4, "max_steps": 32},
              "stability": {"enabled": False}}
    ctx = Context(model_name="m", adapter=adapter, config=ExplainabilityConfig.model_validate(config), seed=0,
                  data=DataResolver(config_dir=tmp_path, prepared_dir=tmp_path), artifacts_dir=tmp_path / "art")
    return SuiteResult.model_validate_json(ExplainabilitySuite().run(ctx).model_dump_json())


def test_unconverged_ig_is_excluded_with_a_warn(tmp_path):
    adapter = UnconvergedIg(WEIGHTS)
    result = _run(adapter, tmp_path)
    assert max(adapter.steps_asked) == 32 and 8 in adapter.steps_asked   # 4 -> 8 -> 16 -> 32, then gives up
    warn = next(f for f in result.findings if f.evidence.get("excluded"))
    assert warn.severity.value == "warn" and "completeness gap above 5%" in warn.message
    assert result.metric(M.COMPREHENSIVENESS, {"method": "integrated_gradients"}) is None
    assert result.metric(M.AGREEMENT, {"method_a": "integrated_gradients", "method_b": "occlusion"}) is None
    assert result.metric(M.AGREEMENT, {"method_a": "occlusion", "method_b": "integrated_gradients"}) is None
    assert result.details["excluded"]["integrated_gradients"]


def test_ig_that_converges_with_more_steps_is_kept(tmp_path):
    adapter = UnconvergedIg(WEIGHTS, converges_at=16)
    result = _run(adapter, tmp_path)
    assert sorted(set(adapter.steps_asked)) == [4, 8, 16]
    assert not any(f.evidence.get("excluded") for f in result.findings)
    assert result.metric(M.COMPREHENSIVENESS, {"method": "integrated_gradients"}) is not None
    steps = {e["ig"]["steps"] for e in result.details["examples"]}
    assert max(steps) == 16 and steps <= {4, 16} and all(e["ig"]["converged"] for e in result.details["examples"])
