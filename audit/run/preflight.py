"""Preflight: every input of a run checked after the config validates and before any model loads.

Model folders (weights, safetensors headers, config.json, head size, a tokenizer that round-trips a
test sentence), devices, every suite block (its config and, through each suite's `check_inputs`
hook, every dataset file, column, label and id), every gate (satisfiable, on a metric a selected
suite can emit), the output folder and the run history. All problems are reported together, one line
each naming the file, key, row or column, as one ConfigError (exit 2) before the first forward pass.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from audit.config.schema import LoadedConfig, ModelSpec, format_validation_error
from audit.data.resolver import DataResolver
from audit.errors import AuditUserError, ConfigError
from audit.models.adapters.loading import check_model, model_labels
from audit.run.registry import load_suite
from audit.run.suite import CheckContext

ModelChecker = Callable[[ModelSpec, Path], "list[str]"]
LabelReader = Callable[[ModelSpec, Path], "tuple[list[str] | None, str | None]"]


class PreflightError(ConfigError):
    """One or more inputs of a run are broken (every problem on its own line)."""


@dataclass
class Preflight:
    """The checks of one config; `run()` raises PreflightError listing every problem."""

    loaded: LoadedConfig
    out_dir: Path
    store: str | None = None
    model_checker: ModelChecker | None = None
    label_reader: LabelReader | None = None
    suite_loader: Callable[..., Any] = load_suite
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def source(self) -> str:
        return str(self.loaded.path)

    @property
    def prepared_dir(self) -> Path:
        return self.loaded.cache_dir / "prepared"

    def run(self) -> None:
        started = time.perf_counter()
        self.check_output()
        self.check_store()
        labels = self.check_models()
        self.check_suites(labels)
        self.seconds = time.perf_counter() - started
        if self.problems:
            unique = list(dict.fromkeys(self.problems))
            summary = f"\n{len(unique)} problems found before any model was loaded" if len(unique) > 1 else ""
            raise PreflightError("\n".join(unique) + summary)

    # ------------------------------------------------------------------ models
    def resolved(self, spec: ModelSpec) -> ModelSpec:
        """A relative model path is relative to the config file (as the runner resolves it)."""
        if spec.path is None or spec.path.startswith(("prepared:", "package:")) or Path(spec.path).expanduser().is_absolute():
            return spec
        return spec.model_copy(update={"path": str(self.loaded.directory / spec.path)})

    def base_spec(self, name: str) -> ModelSpec:
        """The spec a variant is built from (its own label names are the base model's)."""
        models = self.loaded.config.models
        seen = set()
        while models[name].variant_of is not None and name not in seen:
            seen.add(name)
            name = models[name].variant_of  # type: ignore[assignment]
        return models[name]

    def check_models(self) -> dict[str, tuple[list[str] | None, str | None]]:
        """Every model folder and device; returns each model's (label names, kind) for the data checks."""
        checker = self.model_checker or check_model
        reader = self.label_reader or model_labels
        out = {}
        cuda = None
        for name, spec in self.loaded.config.models.items():
            if spec.device.startswith("cuda"):
                if cuda is None:
                    import torch

                    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
                index = int(spec.device.partition(":")[2] or 0)
                if index >= cuda:
                    self.problems.append(f"{self.source}: models.{name}.device: {spec.device!r} was asked for, but "
                                         f"this machine has {cuda} CUDA device(s); use device: auto or cpu")
            base = self.resolved(self.base_spec(name))
            if spec.variant_of is None:
                self.problems += [f"{self.source}: models.{name}: {line}" for line in checker(base, self.prepared_dir)]
            out[name] = reader(base, self.prepared_dir)
        return out

    # ------------------------------------------------------------------ suites, data, gates
    def check_suites(self, labels: dict[str, tuple[list[str] | None, str | None]]) -> None:
        config = self.loaded.config
        emits: list[tuple[str, list[str], Any]] = []     # (suite name, models, suite class)
        for i, block in enumerate(config.suites):
            try:
                suite_cls = self.suite_loader(block.suite, where=f"{self.source}: suites[{i}].suite")
            except AuditUserError as exc:
                self.problems.append(str(exc))
                continue
            models = block.models or list(config.models)
            emits.append((block.suite, models, suite_cls))
            try:
                suite_config = suite_cls.Config.model_validate(block.config)
            except ValidationError as exc:
                self.problems += format_validation_error(exc, self.source, prefix=f"suites[{i}].config",
                                                   suite=block.suite).splitlines()
                continue
            suite = suite_cls()
            for model in models:
                model_labels, kind = labels.get(model, (None, None))
                data = DataResolver(self.loaded.directory, self.prepared_dir)
                ctx = CheckContext(model_name=model, data=data, seed=config.seed, where=f"suites[{i}].config",
                                   model_labels=model_labels, model_kind=kind)
                try:
                    found = suite.check_inputs(suite_config, ctx)
                except AuditUserError as exc:
                    found = [str(exc)]
                self.problems += [f"{self.source}: {line}" for problem in found for line in problem.splitlines()]
        self.check_gates(emits)

    def check_gates(self, emits: list[tuple[str, list[str], Any]]) -> None:
        for i, gate in enumerate(self.loaded.config.gates):
            where = f"{self.source}: gates[{i}]"
            chosen = [(name, cls) for name, models, cls in emits
                      if (gate.model is None or gate.model in models) and (gate.suite is None or gate.suite == name)]
            if not chosen:
                on = f" on model {gate.model}" if gate.model else ""
                self.problems.append(f"{where}.suite: no selected suite {gate.suite or ''} runs{on}: the gate could "
                                     "never be checked")
                continue
            if any(not (cls.metrics.names or cls.metrics.families) for _, cls in chosen):
                continue                                   # a suite that declares nothing cannot be checked
            if any(cls.metrics.declares(gate.metric) for _, cls in chosen):
                continue
            known = sorted({n for _, cls in chosen for n in cls.metrics.names} |
                           {p + "*" for _, cls in chosen for p in cls.metrics.families})
            suites = ", ".join(sorted({name for name, _ in chosen}))
            self.problems.append(f"{where}.metric: {gate.metric!r} is not a metric that {suites}"
                                 f"{' on ' + gate.model if gate.model else ''} can emit; known: {', '.join(known)}")

    # ------------------------------------------------------------------ output folder and store
    def check_output(self) -> None:
        out = Path(self.out_dir)
        if out.exists() and not out.is_dir():
            self.problems.append(f"--out {out}: is a file, not a folder")
            return
        problem = writable_problem(out)
        if problem:
            self.problems.append(f"--out {out}: {problem}")

    def check_store(self) -> None:
        if not self.store or "://" in self.store:
            return
        path = Path(self.store).expanduser()
        if path.is_dir():
            self.problems.append(f"store {path}: is a folder, not a history database file")
            return
        if not path.exists():
            problem = writable_problem(path.parent)
            if problem:
                self.problems.append(f"store {path}: {problem}")


def writable_problem(folder: Path) -> str | None:
    """Why `folder` (or the nearest existing folder above it, where it would be created) is not writable."""
    probe = Path(folder).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, so the folder cannot be created"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return None


def preflight(loaded: LoadedConfig, out_dir: Path, store: str | None = None, **checkers: Any) -> Preflight:
    """Run every check; raise PreflightError listing all problems (exit 2), else return the timing."""
    check = Preflight(loaded, Path(out_dir), store, **checkers)
    check.run()
    return check
