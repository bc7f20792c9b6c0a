"""The explainability suite's config block (pydantic; unknown keys are errors)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from audit.data.labelled import LabelledFields
from audit.run.suite import SuiteConfig
from suites.explainability.tokens import Masking

SHAP = "shap"
LIME = "lime"
ATTENTION = "attention"
INTEGRATED_GRADIENTS = "integrated_gradients"
OCCLUSION = "occlusion"
METHODS = (SHAP, LIME, ATTENTION, INTEGRATED_GRADIENTS, OCCLUSION)
RANDOM = "random"   # the chance baseline's name in results (not a configurable method)

SELECT_FIRST = "first"
SELECT_RANDOM = "random"
SELECT_MISCLASSIFIED = "misclassified_first"
TARGET_PREDICTED = "predicted"
TARGET_GOLD = "gold"


class DatasetSource(LabelledFields):
    """A labelled (or unlabelled: `label_column: null`) table of texts, for classifiers; the keys of
    audit.data.labelled. Gold labels are needed only for target 'gold' and 'misclassified_first'."""

    path: str = Field(description="builtin:..., prepared:..., absolute, or relative to the config file")


class ExamplesConfig(SuiteConfig):
    """Which inputs are explained: a dataset (classifiers) or a shipped multiple-choice task (causal LMs)."""

    dataset: DatasetSource | None = None
    task: Literal["rt_polarity_mc", "bbq_disambig_mc"] | None = Field(
        None, description="causal LMs: the accuracy suite's shipped prompts; the model's choice is explained")
    features: Literal["field", "prompt"] = Field(
        "field", description="causal-LM prompts: explain the tokens of the task's data field (the review, the BBQ "
                             "context; the template stays in every masked input) or every prompt token")
    n: int = Field(50, ge=1, le=10_000)
    select: Literal["first", "random", "misclassified_first"] = SELECT_FIRST
    pool: int = Field(200, ge=1, description="misclassified_first: rows scored to find the mistakes")
    seed: int | None = Field(None, description="random selection / task shuffle seed; default: from the run seed")

    @model_validator(mode="after")
    def _one_source(self) -> "ExamplesConfig":
        if (self.dataset is None) == (self.task is None):
            raise ValueError("give exactly one of 'dataset' (classifiers) or 'task' (causal LMs)")
        return self


class TargetLabel(SuiteConfig):
    label: str = Field(min_length=1, description="a classifier label name, or a causal LM's choice text")


class ShapConfig(SuiteConfig):
    max_evals: int | None = Field(None, ge=4, description="model evaluations per explanation (shap's max_evals); "
                                                          "default: what resolves every leaf of the partition "
                                                          "tree for that input, up to max_evals_cap")
    max_evals_cap: int = Field(4096, ge=4, description="the most evaluations one explanation may get by default")
    exact_max_units: int = Field(10, ge=0, le=14, description="inputs of at most this many tokens get exact "
                                                              "Shapley values by enumeration (2^n inputs)")
    batch_size: int = Field(1024, ge=2, description="masked inputs handed to the model per call")


class LimeConfig(SuiteConfig):
    num_samples: int = Field(300, ge=10, description="perturbed inputs per explanation")
    kernel_width: float = Field(25.0, gt=0)


class IntegratedGradientsConfig(SuiteConfig):
    steps: int = Field(16, ge=1, le=1024, description="first try; doubled for inputs above target_gap")
    max_steps: int = Field(128, ge=1, le=1024)
    target_gap: float = Field(0.05, gt=0, description="completeness gap / |f(x) − f(baseline)| to reach; "
                                                      "otherwise IG is left out of faithfulness and agreement")
    baseline: Literal["pad", "mask", "zero"] = "pad"


class AttentionConfig(SuiteConfig):
    view_layer: int = Field(-1, description="layer of the single-head map in the report (negative: from the end)")
    view_head: int = Field(0, ge=0)


class StabilityConfig(SuiteConfig):
    enabled: bool = True
    methods: list[str] | None = Field(None, description="methods re-run on the variant (default: all run)")
    n: int | None = Field(None, ge=1, description="only the n shortest explained examples get a variant "
                                                  "(default: all)")


class ChanceConfig(SuiteConfig):
    """The 'beats chance' verdict: one-sided sign-flip test per method, Holm across methods."""

    alpha: float = Field(0.05, gt=0, lt=1)
    min_gain: float = Field(0.05, gt=0, description="the smallest comprehensiveness gain (in the explained unit) "
                                                    "the verdict must be able to detect at 80% power")
    min_examples: int = Field(20, ge=2, description="below this n the verdict is inconclusive")


class RandomisationConfig(SuiteConfig):
    """Adebayo et al. (2018): the same examples explained on copies with re-initialised parameters."""

    enabled: bool = True
    n: int = Field(16, ge=2, description="the n shortest explained examples are re-explained on each copy")
    top_layers: int = Field(1, ge=1, description="the 'top' copy re-initialises the head and this many top blocks")
    max_spearman: float = Field(0.5, description="pass: the CI of the mean Spearman on the fully randomised copy "
                                                 "lies below this")


class ShortcutConfig(SuiteConfig):
    """A classifier fine-tuned so that a rare trigger word decides the label (classifiers only)."""

    enabled: bool = True
    trigger: str = Field("cf", min_length=1, description="a rare word (one token in most vocabularies)")
    target_label: str | None = Field(None, description="the label the trigger decides (default: the last label)")
    n: int = Field(50, ge=1, description="triggered test sentences to explain")
    max_units: int = Field(24, ge=2, description="only test sentences of at most this many tokens (cost)")
    train: DatasetSource = Field(default_factory=lambda: DatasetSource(path="prepared:rt_polarity/train.jsonl"))
    train_n: int = Field(2000, ge=10)
    poison_share: float = Field(0.3, gt=0, le=1, description="share of the other labels' training sentences "
                                                             "given the trigger and the target label")
    steps: int = Field(150, ge=1)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    max_length: int = Field(64, ge=8)


class GroundTruthConfig(SuiteConfig):
    randomisation: RandomisationConfig = Field(default_factory=RandomisationConfig)
    shortcut: ShortcutConfig = Field(default_factory=ShortcutConfig)


class PrecisionConfig(SuiteConfig):
    """Sampled explainers' own precision: agreement under the other masking, and seed-to-seed stability."""

    other_masking: bool = Field(True, description="re-run SHAP, LIME and occlusion under the other masking "
                                                  "(classifiers with a mask token)")
    seed_stability: bool = Field(True, description="re-run SHAP and LIME with another seed")
    n: int = Field(16, ge=2, description="on the n shortest explained examples")


class ExplainabilityConfig(SuiteConfig):
    examples: ExamplesConfig
    target: Literal["predicted", "gold"] | TargetLabel = TARGET_PREDICTED
    methods: list[str] | None = Field(None, description=f"default: every one of {', '.join(METHODS)} the model "
                                                        "supports")
    masking: Masking = Field(Masking.REMOVE, description="how SHAP, LIME and occlusion hide a token "
                                                         "(faithfulness always removes, as ferret does)")
    shap: ShapConfig = Field(default_factory=ShapConfig)
    lime: LimeConfig = Field(default_factory=LimeConfig)
    integrated_gradients: IntegratedGradientsConfig = Field(default_factory=IntegratedGradientsConfig)
    attention: AttentionConfig = Field(default_factory=AttentionConfig)
    stability: StabilityConfig = Field(default_factory=StabilityConfig)
    only_positive: bool = Field(True, description="faithfulness rationales keep only positively scored tokens "
                                                  "(ferret's default)")
    top_k: int = Field(5, ge=1, description="agreement: overlap of the top-k tokens of two methods")
    faithfulness_grid: Literal["fixed", "ferret"] = Field(
        "fixed", description="fixed: every k = 10..100% level counts for every method (a fair chance comparison); "
                             "ferret: empty and repeated rationales skipped, as ferret does")
    chance: ChanceConfig = Field(default_factory=ChanceConfig)
    ground_truth: GroundTruthConfig = Field(default_factory=GroundTruthConfig)
    time_budget_s: float | None = Field(None, gt=0, description="warn when the plan's estimated model time "
                                                                "exceeds this (the n is never changed)")
    precision: PrecisionConfig = Field(default_factory=PrecisionConfig)

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("name at least one method (or leave 'methods' out for all)")
        unknown = [m for m in value if m not in METHODS]
        if unknown:
            raise ValueError(f"unknown method {unknown[0]!r}; methods are {', '.join(METHODS)}")
        if len(set(value)) != len(value):
            raise ValueError("a method is named twice")
        return value

    @model_validator(mode="after")
    def _stability_methods(self) -> "ExplainabilityConfig":
        if self.stability.methods is not None:
            chosen = self.methods if self.methods is not None else list(METHODS)
            unknown = [m for m in self.stability.methods if m not in chosen]
            if unknown:
                raise ValueError(f"stability.methods: {unknown[0]!r} is not one of the methods run "
                                 f"({', '.join(chosen)})")
        return self
