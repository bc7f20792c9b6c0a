"""The audit config: YAML (safe-loaded) validated into pydantic models with clear errors."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from audit.errors import ConfigError

CACHE_ENV = "RAI_AUDIT_CACHE"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    """One model to audit. `path` is a local HF folder or `prepared:NAME` from the prepare step."""

    path: str
    kind: Literal["auto", "causal_lm", "masked_lm", "classifier", "encoder"] = "auto"
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: int | Literal["auto"] = "auto"
    max_length: int = Field(512, gt=0)
    allow_pickle: bool = False
    trust_remote_code: bool = False


class SuiteRun(_Strict):
    """A suite to run on some (default: all) models, with its own config block."""

    suite: str
    models: list[str] | None = None
    config: dict[str, Any] = Field(default_factory=dict)


_GATE_RE = re.compile(r"^\s*([\w.\-]+)\s*(<=|>=|<|>)\s*(-?[\d.]+(?:e-?\d+)?)\s*$")


class Gate(_Strict):
    """A threshold on a metric. `"crows_pairs.metric <= 60"` is shorthand for metric + max."""

    metric: str
    min: float | None = None
    max: float | None = None
    model: str | None = None
    suite: str | None = None
    group: str | None = None
    severity: Literal["fail", "warn"] = "fail"
    use_ci: bool = Field(False, description="compare the CI bound, not the point estimate")

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
        if self.min is None and self.max is None:
            raise ValueError("a gate needs 'min' or 'max'")
        return self

    @property
    def label(self) -> str:
        parts = [self.metric]
        if self.group:
            parts.append(f"[{self.group}]")
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
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

    @field_validator("models")
    @classmethod
    def _some_models(cls, value: dict[str, ModelSpec]) -> dict[str, ModelSpec]:
        if not value:
            raise ValueError("at least one model is needed")
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
        return self


def format_validation_error(exc: ValidationError, source: str, prefix: str = "") -> str:
    """One line per problem: `file: key.path: message`."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"])
        loc = (prefix + "." + loc if prefix and loc else prefix or loc).replace(".[", "[")
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "missing":
            message = "required key is missing"
        lines.append(f"{source}: {loc or '(top level)'}: {message}")
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
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a mapping with 'models' and 'suites'")
    try:
        config = AuditConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None
    return LoadedConfig(config=config, path=path.resolve(), raw=raw,
                        sha256=hashlib.sha256(text).hexdigest())
