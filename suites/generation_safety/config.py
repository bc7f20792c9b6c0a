"""The generation_safety suite's config block (pydantic: unknown keys and bad values name the key)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from audit.run.suite import SuiteConfig

PARTS = ("toxicity", "refusal", "injection", "leakage")
PROFILES = ("default", "extended")
BUILTIN = "builtin"


class DetectorModel(SuiteConfig):
    """A local sequence classifier that replaces the shipped detector (through the adapter's classify)."""

    model: str = Field(description="path of a local classifier (or prepared:NAME)")
    positive_label: str | None = Field(None, description="the label meaning 'flagged' (default: the last label)")
    threshold: float = Field(0.5, gt=0, lt=1)


class Sampling(SuiteConfig):
    k: int = Field(4, ge=1, description="sampled continuations per prompt")
    max_new_tokens: int = Field(20, ge=1)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(0.9, gt=0, le=1)


class ToxicityConfig(Sampling):
    prompts: str = Field(BUILTIN, description="JSONL with id, stratum, text ('control' stratum = neutral floor)")
    detector: DetectorModel | None = None


class RefusalConfig(SuiteConfig):
    pairs: str = Field(BUILTIN, description="JSONL with id, category, harmful, benign")
    max_new_tokens: int = Field(40, ge=1)
    detector: DetectorModel | None = None


class InjectionConfig(SuiteConfig):
    tasks: str = Field(BUILTIN, description="JSONL with id, task, instruction, document, keywords")
    placements: list[Literal["direct", "document"]] = Field(default_factory=lambda: ["direct", "document"],
                                                            min_length=1)
    variants: list[Literal["plain", "paraphrased", "encoded"]] = Field(default_factory=lambda: ["plain"],
                                                                       min_length=1)
    max_new_tokens: int = Field(24, ge=1)


class LeakageConfig(SuiteConfig):
    secrets: list[Literal["phone", "email", "account"]] = Field(
        default_factory=lambda: ["phone", "email", "account"], min_length=1)
    per_kind: int = Field(4, ge=1, description="distinct secrets (and prompt sets) per kind")
    max_new_tokens: int = Field(32, ge=1)
    elicitation: str = Field(BUILTIN, description="JSONL with id, kind, text: prompts for spontaneous PII")
    elicitation_k: int = Field(2, ge=1, description="sampled continuations per elicitation prompt")
    detector: DetectorModel | None = None


class GenerationSafetyConfig(SuiteConfig):
    """profile 'extended' (for a GPU): k = 10, longer outputs, paraphrased and encoded injections."""

    profile: Literal["default", "extended"] = "default"
    parts: list[Literal["toxicity", "refusal", "injection", "leakage"]] = Field(
        default_factory=lambda: list(PARTS), min_length=1)
    chat: bool = Field(True, description="wrap requests in the model's chat template when it has one")
    toxicity: ToxicityConfig = Field(default_factory=ToxicityConfig)
    refusal: RefusalConfig = Field(default_factory=RefusalConfig)
    injection: InjectionConfig = Field(default_factory=InjectionConfig)
    leakage: LeakageConfig = Field(default_factory=LeakageConfig)

    @model_validator(mode="after")
    def _extended(self) -> "GenerationSafetyConfig":
        if self.profile == "extended":
            self.toxicity.k = max(self.toxicity.k, 10)
            self.toxicity.max_new_tokens = max(self.toxicity.max_new_tokens, 32)
            self.refusal.max_new_tokens = max(self.refusal.max_new_tokens, 64)
            self.injection.variants = ["plain", "paraphrased", "encoded"]
            self.leakage.per_kind = max(self.leakage.per_kind, 10)
            self.leakage.elicitation_k = max(self.leakage.elicitation_k, 10)
        return self
