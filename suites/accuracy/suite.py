"""The accuracy suite: classifier metrics on local labelled data, and lm-eval tasks for causal LMs.

Every model call goes through `ctx.adapter` as one batched list per dataset (classify) or
per lm-eval run (loglikelihood); metric code lives in `metrics.py` as pure functions.
"""

from __future__ import annotations

from audit.models.adapters.base import Capability
from audit.results import SuiteResult
from audit.run.suite import Context, Suite, SuiteConfig
from suites.accuracy.classification import score_dataset
from suites.accuracy.config import AccuracyConfig, LabelledDataset, LmEvalConfig
from audit.data.labelled import load_labelled
from suites.accuracy.lm_eval_part import score_lm_eval
from suites.accuracy.names import METRICS

__all__ = ["AccuracySuite", "AccuracyConfig", "LabelledDataset", "LmEvalConfig"]


class AccuracySuite(Suite):
    """Accuracy: labelled datasets (accuracy, macro-F1, ECE with CIs) and offline lm-eval tasks."""

    name = "accuracy"
    metrics = METRICS
    version = "1.0"
    Config = AccuracyConfig

    def required_capabilities(self, config: SuiteConfig) -> frozenset[Capability]:
        assert isinstance(config, AccuracyConfig)
        needed = set()
        if config.datasets:
            needed.add(Capability.CLASSIFY)
        if config.lm_eval is not None:
            needed.add(Capability.LOGLIKELIHOOD)
        return frozenset(needed)

    def run(self, ctx: Context) -> SuiteResult:
        cfg: AccuracyConfig = ctx.config
        result = self.new_result(ctx)
        if cfg.datasets:
            labels = list(ctx.adapter.labels)
            for position, spec in enumerate(cfg.datasets):
                seed = spec.seed if spec.seed is not None else ctx.sub_seed("accuracy", "subset", spec.name)
                data = load_labelled(ctx.data, spec, labels, seed)
                score_dataset(ctx, data, headline=position == 0, ece_bins=cfg.ece_bins, result=result)
        if cfg.lm_eval is not None:
            score_lm_eval(ctx, cfg.lm_eval, result)
        return result
