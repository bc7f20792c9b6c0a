"""The accuracy suite's config block (pydantic, unknown keys are errors)."""

from __future__ import annotations

from pydantic import Field, model_validator

from audit.data.labelled import LabelledDataset
from audit.run.suite import SuiteConfig
from suites.accuracy.metrics import DEFAULT_ECE_BINS


class LmEvalConfig(SuiteConfig):
    """lm-eval tasks scored by log-likelihood through the adapter."""

    tasks: list[str] = Field(min_length=1, description="shipped task names or tasks in include_path")
    include_path: str | None = Field(None, description="a folder of extra lm-eval task YAMLs")
    limit: int | None = Field(None, gt=0, description="first N documents per task (shipped tasks are shuffled)")
    num_fewshot: int = Field(0, ge=0)


class AccuracyConfig(SuiteConfig):
    datasets: list[LabelledDataset] = Field(default_factory=list)
    ece_bins: int = Field(DEFAULT_ECE_BINS, ge=1)
    lm_eval: LmEvalConfig | None = None

    @model_validator(mode="after")
    def _something_to_do(self) -> "AccuracyConfig":
        if not self.datasets and self.lm_eval is None:
            raise ValueError("give 'datasets' and/or 'lm_eval'")
        names = [d.name for d in self.datasets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"dataset names must be unique; repeated: {', '.join(duplicates)}")
        return self
