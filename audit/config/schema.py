"""The audit config: YAML (safe-loaded) validated into pydantic models with clear errors."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from audit.config.yaml_loader import safe_load_unique
from audit.config.executor import BudgetSpec, ExecutorSpec, config_sha256
from audit.config.sections import HALF_DTYPES, ModelCardSpec, PruneSpec, RegressionSpec, variant_problems
from audit.errors import ConfigError
from audit.results import Condition, Group, group_key, parse_group

CACHE_ENV = "RAI_AUDIT_CACHE"
# Model names become folder names (artifacts, job state): letters, digits, '_', '.', '-' only.
MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    """One model to audit. `path` is a local HF folder or `prepared:NAME` from the prepare step.

    Or a compressed variant of another model of the config: `variant_of: NAME` with `quantize:
    int8-dynamic`, `prune: {amount: 0.3}` and/or `dtype: float16 | bfloat16` (for a variant the
    weights are also stored in that dtype). audit.models.variants builds it once into the cache.
    """

    path: str | None = None
    kind: Literal["auto", "causal_lm", "masked_lm", "classifier", "encoder"] = "auto"
    device: str = Field("auto", pattern=DEVICE_PATTERN, description="auto, cpu, cuda or cuda:N")
    dtype: Literal["auto", "fast", "float32", "bfloat16", "float16"] = Field(
        "auto", description="compute dtype; auto: bf16 on a GPU, float32 on a CPU; fast: bf16 also on "
                            "CPUs with AMX-BF16 (3-4x faster, float32 weights + autocast)")
    batch_size: Annotated[int, Field(gt=0)] | Literal["auto"] = "auto"
    max_length: int = Field(512, gt=0)
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2"] = Field(
        "auto", description="attention kernel; auto: SDPA on a GPU, the library default on a CPU")
    allow_pickle: bool = False
    trust_remote_code: bool = False
    variant_of: str | None = Field(None, description="build this model from another model of the config")
    quantize: Literal["int8-dynamic"] | None = Field(None, description="variants: dynamic int8 Linear layers (CPU)")
    prune: PruneSpec | None = Field(None, description="variants: unstructured L1 pruning of Linear weights")

    @model_validator(mode="after")
    def _path_or_variant(self) -> "ModelSpec":
        if self.variant_of is None:
            if self.path is None:
                raise ValueError("'path' is required (or 'variant_of' for a compressed variant)")
            if self.quantize or self.prune:
                raise ValueError("'quantize' and 'prune' need 'variant_of' (the model they compress)")
            return self
        if self.path is not None:
            raise ValueError("a variant has no 'path': it is built from its 'variant_of' model")
        if not (self.quantize or self.prune or self.dtype in HALF_DTYPES):
            raise ValueError("a variant needs 'quantize', 'prune' or 'dtype: float16|bfloat16'")
        if self.quantize and self.dtype in HALF_DTYPES:
            raise ValueError("'quantize: int8-dynamic' keeps float32 activations; drop the half 'dtype'")
        if self.quantize and self.device.startswith("cuda"):
            raise ValueError("'quantize: int8-dynamic' runs on a CPU only; use device: cpu or auto")
        return self


class SuiteRun(_Strict):
    """A suite to run on some (default: all) models, with its own config block."""

    suite: str
    models: list[str] | None = None
    config: dict[str, Any] = Field(default_factory=dict)


_GATE_RE = re.compile(r"^\s*([\w.\-]+)\s*(<=|>=|<|>)\s*(-?[\d.]+(?:e-?\d+)?)\s*$")


class Gate(_Strict):
    """A threshold on a metric. `"crows_pairs.metric <= 0.6"` is shorthand for metric + max.

    `group` is a mapping (`{bias_type: race-color}`) or its canonical text (`"bias_type=race-color"`,
    pairs joined by `;`); it is matched by `group_key`. `max_deviation` bounds |value − ideal| for
    metrics that declare an `ideal` (CrowS-Pairs 0.5, a bias score 0).
    """

    metric: str
    min: float | None = None
    max: float | None = None
    max_deviation: float | None = Field(None, ge=0, description="|value − ideal| must not exceed this")
    model: str | None = None
    suite: str | None = None
    group: Group | None = None
    condition: Condition = Condition.ORIGINAL
    severity: Literal["fail", "warn"] = "fail"
    use_ci: bool = Field(True, description="pass / fail only when the whole CI is on one side of the bound "
                                          "(else inconclusive); false: the point estimate decides, power-checked")
    min_effect: float | None = Field(None, ge=0, description="the smallest violation the gate must be able to "
                                                             "detect (metric units); a pass whose minimum "
                                                             "detectable effect exceeds it is inconclusive")

    @field_validator("group", mode="before")
    @classmethod
    def _typed_group(cls, value: Any) -> Any:
        """A mapping (values may be YAML numbers) or the canonical `key=value;key2=value2` text."""
        if isinstance(value, str):
            return parse_group(value)
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()} or None
        return value

    @model_validator(mode="before")
    @classmethod
    def _parse_shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            match = _GATE_RE.match(data)
            if not match:
                raise ValueError(f"gate {data!r} is not of the form 'metric.name <= 60'")
            name, op, number = match.groups()
            return {"metric": name, ("max" if op.startswith("<") else "min"): float(number)}
        return data

    @model_validator(mode="after")
    def _needs_bound(self) -> "Gate":
        if self.min is None and self.max is None and self.max_deviation is None:
            raise ValueError("a gate needs 'min', 'max' or 'max_deviation'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}: no value can pass this gate")
        return self

    @property
    def group_key(self) -> str | None:
        return group_key(self.group)

    @property
    def label(self) -> str:
        parts = [self.metric]
        if self.group:
            parts.append(f"[{self.group_key}]")
        if self.condition != Condition.ORIGINAL:
            parts.append(f"({self.condition.value})")
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        if self.max_deviation is not None:
            parts.append(f"within {self.max_deviation:g} of ideal")
        return " ".join(parts)


class ReportSpec(_Strict):
    title: str = "Responsible-AI audit"
    max_examples: int = Field(20, ge=0)


class AuditConfig(_Strict):
    seed: int = 0
    cache_dir: str | None = None
    models: dict[str, ModelSpec]
    suites: list[SuiteRun]
    gates: list[Gate] = Field(default_factory=list)
    report: ReportSpec = Field(default_factory=ReportSpec)
    store: str | None = Field(None, description="run history: a SQLAlchemy URL or a SQLite file path "
                                                "(relative to this file); --store overrides it")
    regression: RegressionSpec = Field(default_factory=RegressionSpec)
    on_inconclusive: Literal["warn", "fail"] = Field(
        "warn", description="severity of an inconclusive gate: warn (exit 0) or the gate's own (fail: exit 1)")
    model_card: ModelCardSpec = Field(default_factory=ModelCardSpec)
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    budget: BudgetSpec | None = Field(None, description="refuse a run whose plan exceeds this time or "
                                                          "query budget (run_audit.py plan)")

    @field_validator("models")
    @classmethod
    def _some_models(cls, value: dict[str, ModelSpec]) -> dict[str, ModelSpec]:
        if not value:
            raise ValueError("at least one model is needed")
        for name in value:
            check_model_name(name)
        return value

    @field_validator("suites")
    @classmethod
    def _some_suites(cls, value: list[SuiteRun]) -> list[SuiteRun]:
        if not value:
            raise ValueError("at least one suite is needed")
        return value

    @model_validator(mode="after")
    def _known_models(self) -> "AuditConfig":
        for i, run in enumerate(self.suites):
            for name in run.models or []:
                if name not in self.models:
                    raise ValueError(
                        f"suites[{i}].models names unknown model {name!r}; "
                        f"models are {', '.join(self.models)}"
                    )
        for i, gate in enumerate(self.gates):
            if gate.model and gate.model not in self.models:
                raise ValueError(f"gates[{i}].model names unknown model {gate.model!r}")
        problems = variant_problems(self.models)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def check_model_name(name: str) -> str:
    """A model name is safe as a folder name: no separators, no '..', nothing a shell would expand."""
    if not MODEL_NAME_RE.match(name) or set(name) == {"."}:
        raise ValueError(f"model name {name!r} is not allowed: use only letters, digits, '_', '.' and '-' "
                         f"(not just dots); it becomes a folder name")
    return name


def format_validation_error(exc: ValidationError, source: str, prefix: str = "", suite: str | None = None) -> str:
    """One line per problem: `file: key.path: message`; a suite block's errors end with the suite's own
    key path, e.g. `(generation_safety.toxicity.k)`, the name its runtime errors use too."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"])
        loc = (prefix + "." + loc if prefix and loc else prefix or loc).replace(".[", "[")
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "missing":
            message = "required key is missing"
        inner = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"]).replace(".[", "[")
        named = f" ({suite}.{inner})" if suite and inner else ""
        lines.append(f"{source}: {loc or '(top level)'}: {message}{named}")
    return "\n".join(lines)


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "rai-audit")).expanduser()


class LoadedConfig(BaseModel):
    """A validated config plus where it came from (for relative paths and provenance)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    config: AuditConfig
    path: Path
    raw: dict[str, Any]
    sha256: str

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def cache_dir(self) -> Path:
        if self.config.cache_dir:
            cache = Path(self.config.cache_dir).expanduser()
            return cache if cache.is_absolute() else self.directory / cache
        return default_cache_dir()


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate a YAML config. Every problem becomes a ConfigError naming file and key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = path.read_bytes()
    raw = safe_load_unique(text, str(path))
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a mapping with 'models' and 'suites'")
    try:
        config = AuditConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None
    return LoadedConfig(config=config, path=path.resolve(), raw=raw,
                        sha256=config_sha256(text))
