"""The accuracy suite: classifier metrics on local labelled data, and lm-eval tasks for causal LMs.

Every model call goes through `ctx.adapter` as one batched list per dataset (classify) or
per lm-eval run (loglikelihood); metric code lives in `metrics.py` as pure functions.
"""

from __future__ import annotations

from audit.models.adapters.base import Capability
from audit.results import SuiteResult
from audit.errors import AuditUserError
from audit.run.suite import CheckContext, Context, Suite, SuiteConfig
from suites.accuracy.classification import ACCURACY, score_dataset
from suites.accuracy.config import AccuracyConfig, LabelledDataset, LmEvalConfig
from suites.accuracy.names import METRICS
from audit.data.labelled import load_labelled, read_labelled
from suites.accuracy.lm_eval_part import LM_EVAL_PREFIX, score_lm_eval

__all__ = ["AccuracySuite", "AccuracyConfig", "LabelledDataset", "LmEvalConfig"]


class AccuracySuite(Suite):
    """Accuracy: labelled datasets (accuracy, macro-F1, ECE with CIs) and offline lm-eval tasks."""

    name = "accuracy"
    metrics = METRICS
    version = "1.0"
    Config = AccuracyConfig
    headlines = (ACCURACY, f"{LM_EVAL_PREFIX}.*")

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
                data = load_labelled(ctx.data, spec, labels, seed, what=dataset_key(position))
                result.details.setdefault("subsets", {})[spec.name] = {
                    "seed": seed, "limit": spec.limit, "ids": data.ids, "dropped_blank_rows": data.dropped}
                score_dataset(ctx, data, headline=position == 0, ece_bins=cfg.ece_bins, result=result)
        if cfg.lm_eval is not None:
            score_lm_eval(ctx, cfg.lm_eval, result)
        return result

    def check_inputs(self, config: SuiteConfig, ctx: CheckContext) -> list[str]:
        """Every dataset read and validated against the model's labels (no model load)."""
        assert isinstance(config, AccuracyConfig)
        problems = []
        for position, spec in enumerate(config.datasets):
            try:
                read_labelled(ctx.data, spec.path, spec, what=f"{ctx.where}.datasets[{position}]",
                              model_labels=ctx.model_labels)
            except AuditUserError as exc:
                problems.append(str(exc))
        return problems


def dataset_key(position: int) -> str:
    return f"accuracy.datasets[{position}]"
